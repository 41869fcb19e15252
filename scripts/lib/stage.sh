# Sourced by scripts/bench and scripts/archives: how to run a stage's JVM without JBang's
# launcher, and the quickest whole run of a stage (a container that runs /bin/true), which the
# benchmark times and the archives are trained on.

# stage_java DIR: sets stage_java, stage_options (an array), stage_classpath, stage_main and
# stage_archive (the class-data archive beside JBang's jar, which scripts/archives writes), from
# what `jbang info tools` says of the stage; compiles it first if it must
stage_java() {
  local info
  jbang --quiet build "$1/Main.java"
  info=$(jbang info tools "$1/Main.java")
  # one "key": value a line, lists one value a line
  value() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<< "$info"; }
  list() { sed -n "/^  \"$1\": \[/,/^  \]/s/^    \"\(.*\)\",\{0,1\}$/\1/p" <<< "$info"; }
  local jar
  jar=$(value applicationJar)
  stage_java=$(value availableJdkPath)/bin/java
  mapfile -t stage_options < <(list runtimeOptions)
  stage_classpath=$(printf '%s\n' "$jar" $(list resolvedDependencies) | paste -sd:)
  stage_main=$(value mainClass)
  stage_jar=$jar
  stage_archive=${jar%.jar}.jsa
}

# stage_archive_is_new: true if the stage's archive (after stage_java) is newer than its jar and
# its JDK, the rule the jbang launcher uses to pass it to the JVM
stage_archive_is_new() {
  [ "$stage_archive" -nt "$stage_jar" ] && [ "$stage_archive" -nt "${stage_java%/bin/java}/lib/modules" ]
}

# quick_run_args NAME: the stage's arguments for a run that starts a container and ends
quick_run_args() {
  case $1 in
    01-*) echo "--quiet --rootfs -- /bin/true" ;; # the bash-only jail has no /bin/true
    *) echo "--quiet -- /bin/true" ;;
  esac
}

# needs_own_network NAME: true for the stages that build a bridge; they must run in a network
# namespace the caller makes for them, never on this machine's network
needs_own_network() {
  case $1 in 0[5-9]-*) return 0 ;; *) return 1 ;; esac
}

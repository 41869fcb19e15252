# Sourced by scripts/check and scripts/setup: the grader is the tests, compiled into
# target/grader with their libraries beside them (where a learner grading as themselves can read
# them), apart from any build that may be running. It is prepared again only when a test, the
# pom or scripts/Lessons.java changed since: Maven alone takes seconds to start, and minutes on
# the emulated course VM of scripts/vm-test.

grader=$workbook/target/grader

# grader_stale: true when the grader must be prepared (again)
grader_stale() {
  [ ! -f "$grader/prepared" ] || [ -n "$(find "$workbook/src/test" "$workbook/pom.xml" "$workbook/scripts/Lessons.java" \
    -newer "$grader/prepared" -print -quit)" ]
}

# grader_prepare [MAVEN OPTION...]: compiles the tests and copies their libraries (Maven's log in
# target/grader/maven.log), then compiles scripts/Lessons.java once rather than by the source
# launcher at each call; the stamp `prepared` is written last, so a run cut short leaves it stale
grader_prepare() {
  rm -f "$grader/prepared"
  mkdir -p "$grader"
  (cd "$workbook" && mvn -q -B "$@" -Dbuild.dir="$grader" test-compile dependency:copy-dependencies \
    -DoutputDirectory="$grader/lib" -DincludeScope=test) > "$grader/maven.log" 2>&1 || return 1
  rm -rf "$grader/lessons" && javac -d "$grader/lessons" "$workbook/scripts/Lessons.java" || return 1
  touch "$grader/prepared"
}

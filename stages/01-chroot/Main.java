///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Djnr.ffi.asm.enabled=false
// A stage lives a second or two, so the JVM starts light: only the quick JIT compiler, the
// simplest collector, no perf-data file; and jnr-ffi binds libc by reflection instead of
// generating bytecode for each function (slower calls, a much faster start: we make few calls).
// sun.misc.Signal forwards Ctrl-C to the command; -XDignore.symbol.file keeps javac quiet about
// it being JDK-internal. javac is a JVM that lives a few seconds too: it starts as light (-J...).
//JAVAC_OPTIONS -XDignore.symbol.file -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC
//DEPS info.picocli:picocli:4.7.7
//DEPS com.github.jnr:jnr-ffi:2.3.4
//DEPS com.github.jnr:jnr-constants:0.11.4
// The stage's other files, one concern each, in the order a run needs them:
//SOURCES LibC.java
//SOURCES Narration.java
//SOURCES Checks.java
//SOURCES Jail.java
//SOURCES CrashRecord.java
//SOURCES Descriptors.java
//SOURCES Chroot.java
//SOURCES Escape.java
//SOURCES Parent.java

// Stage 01: a chroot jail, built by hand, and the way out of it.
//
//   sudo jbang stages/01-chroot/Main.java                    bash in a jail of bash + its libraries
//   sudo jbang stages/01-chroot/Main.java --copy ls -- /bin/ls /
//   sudo jbang stages/01-chroot/Main.java --rootfs -- /bin/ls /     the busybox root instead
//   sudo jbang stages/01-chroot/Main.java --escape -- /bin/cat /etc/hostname
package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import static container.Checks.*;
import static container.CrashRecord.*;
import static container.Chroot.*;
import static container.Escape.*;
import static container.Jail.*;
import static container.Narration.*;
import static container.Parent.*;

@Command(name = "01-chroot", mixinStandardHelpOptions = true, version = "workbook stage 01",
        sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Builds a jail by hand (a program plus the libraries ldd lists), chroot(2)s",
            "into it and runs a command there. With --escape, walks back out of the jail.",
            "Needs root. Without a command: an interactive shell inside."})
public class Main implements Callable<Integer> {

    @Option(names = "--copy", paramLabel = "PROGRAM",
            description = "Also copy this program (a path, or a name found in PATH) into the jail's /bin. Repeatable.")
    List<String> extraPrograms = new ArrayList<>();

    @Option(names = "--rootfs", paramLabel = "DIR", arity = "0..1", fallbackValue = "rootfs",
            description = "Chroot into this ready-made root instead of building a jail (alone: ${FALLBACK-VALUE}, the busybox root made by scripts/setup).")
    Path rootfs;

    @Option(names = "--jail", paramLabel = "DIR",
            description = "Build the jail in DIR and keep it, to explore afterwards (default: a temporary directory, removed on exit).")
    Path keptJail;

    @Option(names = "--escape",
            description = "After entering the jail, break out of it (the double-chroot escape), then run the command on the host's root.")
    boolean escape;

    @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
    boolean quiet;

    @Parameters(paramLabel = "COMMAND", description = "Command and arguments to run inside (default: /bin/bash in a jail, /bin/sh in a rootfs).")
    List<String> command = new ArrayList<>();

    /** The host's "/" as device and inode, read before any chroot. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, a) -> fail(optionError(e) + " (see --help)"));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            if (interrupted != 0) return 128 + interrupted; // stopped before the command started
            if (e instanceof StageFailure) return fail(e.getMessage());
            throw e;
        });
        System.exit(cli.execute(args));
    }

    @Override
    public Integer call() throws Exception {
        takeSignals();
        narrating = !quiet;
        requireRoot();
        stopCommandsOfCrashedRuns();
        removeJailsOfDeadRuns();
        Path root = rootfs != null ? checkRootfs(rootfs) : createJail(keptJail);
        try {
            if (rootfs == null) fillJail(root, extraPrograms);
            List<String> argv = command.isEmpty() ? List.of(rootfs != null ? "/bin/sh" : "/bin/bash") : command;
            stopIfInterrupted();
            int pid = enterRootAndSpawn(root, argv, escape, rootfs);
            forwardSignals(pid);
            Path record = recordCommand(pid);
            try {
                return waitForExit(pid);
            } finally {
                Files.deleteIfExists(record);
            }
        } finally {
            if (rootfs == null && keptJail == null) deleteTree(root);
            if (escape) deleteQuietly(root.resolve("breakout"));
        }
    }
}

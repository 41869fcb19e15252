///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Djnr.ffi.asm.enabled=false
// A stage lives a second or two, so the JVM starts light: only the quick JIT compiler, the
// simplest collector, no perf-data file; and jnr-ffi binds libc by reflection instead of
// generating bytecode for each function (slower calls, a much faster start: we make few calls).
// sun.misc.Signal forwards Ctrl-C to the container; this keeps javac quiet about it being JDK-internal.
//JAVAC_OPTIONS -XDignore.symbol.file
//DEPS info.picocli:picocli:4.7.7
//DEPS com.github.jnr:jnr-ffi:2.3.4
//DEPS com.github.jnr:jnr-constants:0.11.4
// The stage's other files, one concern each, in the order a run needs them:
//SOURCES LibC.java
//SOURCES Narration.java
//SOURCES Checks.java
//SOURCES Volume.java
//SOURCES CrashRecord.java
//SOURCES Parent.java
//SOURCES Container.java
//SOURCES Namespaces.java
//SOURCES Init.java
//SOURCES Mounts.java
//SOURCES Escape.java
//SOURCES Exec.java

// Stage 03: the mount namespace in depth. pivot_root(2) replaces chroot, so the host's
// filesystem is gone from inside (the chroot escape finds nothing), and host directories
// are bind-mounted in as volumes.
//
//   sudo jbang stages/03-mount-bind/Main.java                       a shell in the container
//   sudo jbang stages/03-mount-bind/Main.java --volume /tmp/shared:/data -- /bin/ls /data
//   sudo jbang stages/03-mount-bind/Main.java --escape -- /bin/ls /  the escape stays inside
//   sudo jbang stages/03-mount-bind/Main.java exec PID -- /bin/ps   enter a running container
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
import static container.Escape.*;
import static container.Init.*;
import static container.LibC.*;
import static container.Mounts.*;
import static container.Namespaces.*;
import static container.Narration.*;
import static container.Parent.*;
import static container.Volume.*;

@Command(name = "03-mount-bind", mixinStandardHelpOptions = true, version = "workbook stage 03",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = Exec.class,
        description = {
            "Runs a command in new UTS, PID, IPC and mount namespaces, with pivot_root(2) into a",
            "root filesystem and host directories bind-mounted in as volumes. Needs root.",
            "Without a command: an interactive shell inside."})
public class Main implements Callable<Integer> {

    @Option(names = "--rootfs", paramLabel = "DIR", defaultValue = "rootfs",
            description = "The container's root filesystem (default: ${DEFAULT-VALUE}, the busybox root made by scripts/setup).")
    Path rootfs;

    @Option(names = "--hostname", paramLabel = "NAME", defaultValue = "container",
            description = "The container's hostname (default: ${DEFAULT-VALUE}). The host's never changes.")
    String hostname;

    @Option(names = {"-v", "--volume"}, paramLabel = "HOST_DIR:CONTAINER_DIR[:ro]",
            description = "Bind-mount a host directory into the container (read-only with :ro). Repeatable.")
    List<String> volumeSpecs = new ArrayList<>();

    @Option(names = "--escape",
            description = "Before running the command, try stage 01's double-chroot escape (it stays inside now).")
    boolean escape;

    @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
    boolean quiet;

    @Option(names = "--init", hidden = true, description = "Internal: run as the container's init.")
    boolean init;

    @Parameters(paramLabel = "COMMAND", description = "Command and arguments to run inside (default: /bin/sh).")
    List<String> command = new ArrayList<>();

    static String[] commandLine; // as given: init gets the same, plus --init

    /** The host's "/" as device and inode, read when init starts, before any mount. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    public static void main(String[] args) {
        commandLine = args;
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, a) -> fail(optionError(e) + " (see --help)"));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            if (e instanceof StageFailure) return fail(e.getMessage());
            throw e;
        });
        System.exit(cli.execute(args));
    }

    // tag::main[]
    @Override
    public Integer call() throws Exception {
        narrating = !quiet;
        if (init) {
            side = "init";
            held = new ArrayList<>(); // silent until released, so the two sides don't talk at once
            return runInit();
        }
        requireRoot();
        checkHostname(hostname);
        Path root = checkRootfs(rootfs);
        List<Volume> volumes = Volume.parseAll(volumeSpecs);
        requireNamespaces("uts", "pid", "ipc", "mnt");
        undoCrashedRuns();
        List<Path> madeOnHost = createMountPoints(root, volumes);
        if (escape) madeOnHost.add(root.resolve("breakout")); // init's escape attempt makes it
        Path record = recordMadeOnHost(madeOnHost);
        try {
            Container container = startInit();
            forwardSignals(container.pid);
            printNamespaces(container.pid);
            container.release();
            return container.awaitExit();
        } finally {
            removeFromHost(madeOnHost);
            Files.deleteIfExists(record);
        }
    }
    // end::main[]

    // tag::init[]
    /** Runs as PID 1 in the new namespaces; ends by becoming the command. */
    int runInit() {
        // If the parent dies, so does the container (kept across execve).
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        waitForParent();
        setHostname(hostname);
        makeMountsPrivate();
        Path root = checkRootfs(rootfs);
        bindRootfsOntoItself(root);
        for (Volume volume : Volume.parseAll(volumeSpecs)) mountVolume(root, volume);
        switchRoot(root);
        mountProc();
        if (escape) tryToBreakOut();
        List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
        return execute(argv, containerEnvironment(hostname));
    }
    // end::init[]
}

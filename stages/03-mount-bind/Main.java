///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Djnr.ffi.asm.enabled=false
// A stage lives a second or two, so the JVM starts light: only the quick JIT compiler, the
// simplest collector, no perf-data file; and jnr-ffi binds libc by reflection instead of
// generating bytecode for each function (slower calls, a much faster start: we make few calls).
// sun.misc.Signal forwards Ctrl-C to the container; -XDignore.symbol.file keeps javac quiet about
// it being JDK-internal. javac is a JVM that lives a few seconds too: it starts as light (-J...).
//JAVAC_OPTIONS -XDignore.symbol.file -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC
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
//SOURCES Descriptors.java
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

@Command(name = "03-mount-bind", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "(or: exec ...)", version = "workbook stage 03",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = Exec.class,
        description = {
            "Runs a command in new UTS, PID, IPC and mount namespaces, with pivot_root(2)",
            "into a root filesystem and host directories bind-mounted in as volumes. Needs",
            "root. Without a command: an interactive shell inside."})
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


    @Parameters(paramLabel = "COMMAND", description = "Command and arguments to run inside (default: /bin/sh).")
    List<String> command = new ArrayList<>();

    static List<String> forInit; // what init is told of the options: see settingsForInit

    /** The host's "/" as device and inode, read when init starts, before any mount. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("--init")) System.exit(runAsInit(args));
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, a) -> fail(optionError(e) + " (see --help)"));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            if (interrupted != 0) return 128 + interrupted; // undone, and nothing to say
            if (e instanceof StageFailure) return fail(e.getMessage());
            throw e;
        });
        System.exit(cli.execute(args));
    }

    // tag::handover[]
    /**
     * What init needs of the options, already checked, as NAME=VALUE arguments before its
     * command: init reads them back with a loop (runAsInit) instead of picocli, which looks at
     * every option's annotations first and costs a JVM about 0.1 s to start.
     */
    List<String> settingsForInit() {
        List<String> settings = new ArrayList<>(List.of("rootfs=" + rootfs, "hostname=" + hostname, "quiet=" + quiet, "escape=" + escape));
        for (String volume : volumeSpecs) settings.add("volume=" + volume);
        settings.add("--");
        settings.addAll(command);
        return settings;
    }

    /** init's start: java ... Main --init NAME=VALUE... -- COMMAND..., as the parent spawns it. */
    static int runAsInit(String[] args) {
        Main main = new Main();
        int i = 1;
        for (; !args[i].equals("--"); i++) {
            int equals = args[i].indexOf('=');
            main.set(args[i].substring(0, equals), args[i].substring(equals + 1));
        }
        main.command = List.of(args).subList(i + 1, args.length);
        narrating = !main.quiet;
        side = "init";
        held = new ArrayList<>(); // silent until released, so the two sides don't talk at once
        try {
            return main.runInit();
        } catch (StageFailure e) {
            return fail(e.getMessage());
        }
    }

    void set(String name, String value) {
        switch (name) {
            case "rootfs" -> rootfs = Path.of(value);
            case "hostname" -> hostname = value;
            case "quiet" -> quiet = Boolean.parseBoolean(value);
            case "escape" -> escape = Boolean.parseBoolean(value);
            case "volume" -> volumeSpecs.add(value);
            default -> throw new IllegalArgumentException("init has no setting " + name);
        }
    }
    // end::handover[]

    // tag::main[]
    @Override
    public Integer call() throws Exception {
        takeSignals();
        narrating = !quiet;
        forInit = settingsForInit();
        requireRoot();
        checkHostname(hostname);
        Path root = checkRootfs(rootfs);
        List<Volume> volumes = Volume.parseAll(volumeSpecs);
        requireNamespaces("uts", "pid", "ipc", "mnt");
        undoCrashedRuns();
        List<Path> madeOnHost = createMountPoints(root, volumes);
        if (escape) madeOnHost.add(root.resolve("breakout")); // init's escape attempt makes it
        Path record = recordMadeOnHost(madeOnHost);
        Container container = null;
        try {
            stopIfInterrupted(); // a signal that came while the host was being changed
            container = startInit();
            forwardSignals(container.pid);
            printNamespaces(container.pid);
            container.release();
            return container.awaitExit();
        } finally {
            if (container != null) container.end();
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

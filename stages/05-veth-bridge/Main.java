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
//SOURCES Limits.java
//SOURCES Address.java
//SOURCES Shell.java
//SOURCES Network.java
//SOURCES CrashRecord.java
//SOURCES Cgroup.java
//SOURCES KernelFiles.java
//SOURCES Parent.java
//SOURCES Container.java
//SOURCES Namespaces.java
//SOURCES Meter.java
//SOURCES Init.java
//SOURCES Descriptors.java
//SOURCES Mounts.java
//SOURCES Escape.java
//SOURCES Exec.java
//SOURCES Freezer.java

// Stage 05: a network namespace per container, wired to the host by a veth pair whose host end
// sits on a bridge (wb0) with the gateway address; IPv4 forwarding and a MASQUERADE rule let
// containers reach beyond the host with the host's address. Two containers talk over the bridge.
//
//   sudo jbang stages/05-veth-bridge/Main.java                       a shell with eth0 and a route
//   sudo jbang stages/05-veth-bridge/Main.java --ip 10.213.0.10/24 -- /bin/sh -c 'ip addr; ip route'
//   sudo jbang stages/05-veth-bridge/Main.java -- /bin/ping -c 1 10.213.0.10
//   sudo jbang stages/05-veth-bridge/Main.java exec PID -- /bin/ip addr   enter a running container
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
import static container.Meter.*;
import static container.Mounts.*;
import static container.Namespaces.*;
import static container.Narration.*;
import static container.Parent.*;
import static container.Volume.*;

@Command(name = "05-veth-bridge", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "(or: exec, pause, unpause ...)", version = "workbook stage 05",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = {Exec.class, Freezer.Pause.class, Freezer.Unpause.class},
        description = {
            "Runs a command in its own namespaces (network too), root filesystem and",
            "cgroup. Its eth0 is one end of a veth pair; the other is on the host's bridge",
            "wb0, which routes and NATs. Needs root. Without a command: an interactive",
            "shell inside."})
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

    @Option(names = "--cpus", paramLabel = "N",
            description = "CPU time per period, in CPUs (0.5: half of one CPU; 1.5: one and a half), as docker run --cpus.")
    Double cpus;

    @Option(names = "--cpu-shares", paramLabel = "N",
            description = "Relative CPU weight under contention, 2 to 262144 (the default group has 1024), as docker run --cpu-shares.")
    Long cpuShares;

    @Option(names = {"-m", "--memory"}, paramLabel = "SIZE",
            description = "Memory limit: bytes, or with k, m or g (at least 6m). Past it, the kernel's OOM killer ends a process.")
    String memory;

    @Option(names = "--pids-limit", paramLabel = "N",
            description = "At most N processes and threads in the container; fork(2) then fails with EAGAIN.")
    Long pidsLimit;

    @Option(names = "--cpuset-cpus", paramLabel = "LIST",
            description = "The CPUs the container may run on (0, 0-1, 0,2), as docker run --cpuset-cpus.")
    String cpusetCpus;

    @Option(names = "--ip", paramLabel = "ADDRESS/PREFIX",
            description = "The container's address (default: the first free one in 10.213.0.0/24, the bridge's subnet; the bridge is .1).")
    String ip;

    @Option(names = "--cgroup-fs", paramLabel = "DIR", hidden = true,
            description = "Treat DIR as a cgroup v2 mount (the tests check the v2 files on a machine that runs v1).")
    Path cgroupFs;

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
        Limits limits = Limits.check(cpus, cpuShares, memory, pidsLimit, cpusetCpus);
        Address requested = ip == null ? null : Address.parse(ip);
        requireNamespaces("uts", "pid", "ipc", "mnt", "net");
        Network network = Network.find();
        undoCrashedRuns();
        network.undoCrashedRuns();
        Cgroup cgroup = Cgroup.find(cgroupFs, limits);
        List<Path> madeOnHost = createMountPoints(root, volumes);
        if (escape) madeOnHost.add(root.resolve("breakout")); // init's escape attempt makes it
        Path record = recordMadeOnHost(madeOnHost);
        Thread meter = null;
        Address address = null;
        Container container = null;
        try {
            stopIfInterrupted(); // a signal that came while the host was being changed
            address = network.join(requested);
            cgroup.create(NAME + "-" + ProcessHandle.current().pid(), limits, madeOnHost);
            recordMadeOnHost(madeOnHost);
            stopIfInterrupted();
            container = startInit();
            forwardSignals(container.pid);
            // Only once init's JVM is up: it starts a dozen threads on the way, and under a
            // tight --pids-limit it could not start at all.
            container.awaitReady();
            cgroup.join(container.pid);
            network.connect(container.pid, address);
            printNamespaces(container.pid);
            if (narrating) meter = startMeter(cgroup, limits.cpus());
            container.release();
            return container.awaitExit();
        } finally {
            if (container != null) container.end();
            if (meter != null) meter.interrupt();
            if (address != null) network.leave();
            removeFromHost(madeOnHost);
            cgroup.removeSharedParentIfEmpty();
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
        enterOwnCgroupNamespace();
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

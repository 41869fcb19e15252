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
//SOURCES IdMaps.java
//SOURCES User.java
//SOURCES Address.java
//SOURCES UserNamespace.java
//SOURCES Rootless.java
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

// Stage 06: rootless. A user namespace makes an ordinary user root inside the container and
// nobody special outside. The parent writes the uid and gid maps while init waits; then init
// becomes root of its namespace. The JVM cannot create a user namespace (it has threads), so a
// single-threaded program, util-linux's unshare, creates the namespaces, as runc does in C for Go.
//
//   jbang stages/06-user-ns/Main.java -- /bin/sh -c 'id; cat /proc/self/uid_map'     no sudo
//   jbang stages/06-user-ns/Main.java --hostname mine -- /bin/hostname
//   sudo jbang stages/06-user-ns/Main.java --uid-map 0:100000:65536 --gid-map 0:100000:65536 --user 1000
//   jbang stages/06-user-ns/Main.java exec PID -- /bin/id                  enter a running container
package container;

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
import static container.Rootless.*;
import static container.UserNamespace.*;
import static container.Volume.*;

@Command(name = "06-user-ns", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "(or: exec, pause, unpause ...)", version = "workbook stage 06",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = {Exec.class, Freezer.Pause.class, Freezer.Unpause.class},
        description = {
            "Runs a command in a user namespace (root inside, you outside) and in its own",
            "UTS, PID, IPC, mount and network namespaces. Needs no root: run by an ordinary",
            "user, the network is loopback only and there are no cgroup limits. With sudo:",
            "--uid-map, --ip and limits too. Without a command: an interactive shell",
            "inside."})
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

    @Option(names = "--uid-map", paramLabel = "CONTAINER:HOST:COUNT",
            description = "Map COUNT user IDs from CONTAINER inside to HOST outside. Repeatable; needs sudo. Default: 0:YOUR_UID:1, with sudo 0:100000:65536.")
    List<String> uidMapSpecs = new ArrayList<>();

    @Option(names = "--gid-map", paramLabel = "CONTAINER:HOST:COUNT",
            description = "The same for group IDs. Default: 0:YOUR_GID:1, with sudo 0:100000:65536.")
    List<String> gidMapSpecs = new ArrayList<>();

    @Option(names = {"-u", "--user"}, paramLabel = "UID[:GID]",
            description = "Run the command as this user inside (default: 0, root), as docker run --user.")
    String userSpec;

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
            description = "The container's address on the bridge wb0, with sudo (default: the first free one in 10.213.0.0/24). Without sudo: loopback only.")
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
        if (userSpec != null) settings.add("user=" + userSpec);
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
            case "user" -> userSpec = value;
            default -> throw new IllegalArgumentException("init has no setting " + name);
        }
    }
    // end::handover[]

    // tag::main[]
    @Override
    public Integer call() throws Exception {
        takeSignals();
        narrating = !quiet;
        boolean rootless = LIBC.geteuid() != 0;
        checkHostname(hostname);
        Path root = checkRootfs(rootfs);
        // Init gets the directory found, by its full path: as root inside, it sees the host's
        // owners as nobody, and could not tell a workbook above it from one someone planted.
        rootfs = root;
        forInit = settingsForInit();
        List<Volume> volumes = Volume.parseAll(volumeSpecs);
        Limits limits = Limits.check(cpus, cpuShares, memory, pidsLimit, cpusetCpus);
        IdMaps maps = IdMaps.check(uidMapSpecs, gidMapSpecs, rootless);
        maps.requireMapped(User.parse(userSpec));
        Address requested = ip == null ? null : Address.parse(ip);
        requireNamespaces("user", "uts", "pid", "ipc", "mnt", "net");
        requireUserNamespaces(rootless);
        Network network = rootless ? loopbackOnly(requested) : Network.find();
        undoCrashedRuns();
        if (network != null) network.undoCrashedRuns();
        Cgroup cgroup = rootless ? delegatedCgroup(cgroupFs, limits) : Cgroup.find(cgroupFs, limits);
        List<Path> madeOnHost = createMountPoints(root, volumes);
        if (escape) madeOnHost.add(root.resolve("breakout")); // init's escape attempt makes it
        Path record = recordMadeOnHost(madeOnHost);
        Thread meter = null;
        Address address = null;
        Container container = null;
        try {
            stopIfInterrupted(); // a signal that came while the host was being changed
            if (network != null) address = network.join(requested);
            if (cgroup != null) cgroup.create(NAME + "-" + ProcessHandle.current().pid(), limits, madeOnHost);
            recordMadeOnHost(madeOnHost);
            showThatTheJvmCannotCreateAUserNamespace();
            stopIfInterrupted();
            container = startInit();
            forwardSignals(container.pid);
            // Only once init's JVM is up: it starts a dozen threads on the way, and under a
            // tight --pids-limit it could not start at all.
            container.awaitReady();
            maps.writeFor(container.pid, rootless);
            if (cgroup != null) cgroup.join(container.pid);
            if (network != null) network.connect(container.pid, address);
            printNamespaces(container.pid);
            if (narrating && cgroup != null) meter = startMeter(cgroup, limits.cpus());
            container.release();
            return container.awaitExit();
        } finally {
            if (container != null) container.end();
            if (meter != null) meter.interrupt();
            if (address != null) network.leave();
            removeFromHost(madeOnHost);
            if (cgroup != null) cgroup.removeSharedParentIfEmpty();
            forget(record);
        }
    }
    // end::main[]

    // tag::init[]
    /** Runs as PID 1 in the new namespaces; ends by becoming the command. */
    int runInit() {
        // If the parent dies, so does the container (kept across execve).
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        waitForParent();
        switchUser(0, 0);
        enterOwnCgroupNamespace();
        setHostname(hostname);
        bringLoopbackUp();
        makeMountsPrivate();
        Path root = checkRootfs(rootfs);
        bindRootfsOntoItself(root);
        for (Volume volume : Volume.parseAll(volumeSpecs)) mountVolume(root, volume);
        mountProc(root);
        switchRoot(root);
        if (escape) tryToBreakOut();
        User user = User.parse(userSpec);
        if (user != null) switchUser(user.uid(), user.gid());
        List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
        return execute(argv, containerEnvironment(hostname));
    }
    // end::init[]
}

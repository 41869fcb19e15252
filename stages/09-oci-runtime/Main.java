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
//SOURCES Capabilities.java
//SOURCES Seccomp.java
//SOURCES Json.java
//SOURCES Tar.java
//SOURCES Store.java
//SOURCES Image.java
//SOURCES Layers.java
//SOURCES Overlay.java
//SOURCES ImageCommands.java
//SOURCES Exec.java
//SOURCES Freezer.java
//SOURCES Bundle.java
//SOURCES RuntimeState.java
//SOURCES CgroupsPath.java
//SOURCES InitProcess.java
//SOURCES BundleInit.java
//SOURCES BundleMounts.java
//SOURCES Rlimits.java
//SOURCES Signals.java
//SOURCES DefaultSpec.java
//SOURCES SyscallNumbers.java
//SOURCES SeccompProfile.java
//SOURCES Hooks.java
//SOURCES RuntimeCommands.java
//SOURCES ExecProcess.java
//SOURCES Console.java
//SOURCES DeviceFilter.java
// The script an engine is given as the runtime's path (podman --runtime, dockerd --add-runtime):
//FILES runtime

// Stage 09: the container as an OCI runtime, runc's command line under `oci` (see RuntimeCommands).
//
//   jbang stages/09-oci-runtime/Main.java oci spec --bundle DIR                   a default config.json
//   jbang stages/09-oci-runtime/Main.java oci run --bundle DIR ID                  create, start, wait, delete
//   podman --runtime stages/09-oci-runtime/runtime --cgroup-manager cgroupfs run ...
//
// Everything of stage 08 stays: images, layers and copy-on-write. `build` packs the busybox root into an OCI image
// (gzip'd tar layers, a config, a manifest, each a blob named by its sha256); --image runs one:
// its layers, unpacked once into a store every container shares, become the read-only lower
// half of an overlay mount, and what the container writes lands in an upper directory of its own.
//
//   jbang stages/09-oci-runtime/Main.java build --tag busybox                   the busybox root as an image
//   jbang stages/09-oci-runtime/Main.java build --from busybox --copy motd:/etc/motd --remove /bin/vi --tag busybox:motd
//   jbang stages/09-oci-runtime/Main.java --image busybox:motd -- cat /etc/motd
//   jbang stages/09-oci-runtime/Main.java --image busybox --keep --name web -- sh -c 'echo hi > /hello'
//   jbang stages/09-oci-runtime/Main.java commit web --tag busybox:hello       what it changed, as a layer
package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import static container.Capabilities.*;
import static container.Checks.*;
import static container.CrashRecord.*;
import static container.Escape.*;
import static container.Init.*;
import static container.LibC.*;
import static container.Meter.*;
import static container.Mounts.*;
import static container.Overlay.*;
import static container.Namespaces.*;
import static container.Narration.*;
import static container.Parent.*;
import static container.Rootless.*;
import static container.Seccomp.*;
import static container.UserNamespace.*;
import static container.Volume.*;

@Command(name = "09-oci-runtime", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "(or: build|images|commit|rm|exec|pause|unpause|oci ...)", version = "workbook stage 09",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = {ImageCommands.Build.class, ImageCommands.ListImages.class, ImageCommands.Commit.class, ImageCommands.Remove.class, Exec.class, Freezer.Pause.class, Freezer.Unpause.class, RuntimeCommands.class},
        description = {
            "Runs a command in a user namespace (root inside, you outside) and in its own",
            "UTS, PID, IPC, mount and network namespaces, with Docker's default",
            "capabilities only and a seccomp filter; with --image, on an overlay of an",
            "image's layers. Needs no root: run by an ordinary user, the network is",
            "loopback only and there are no cgroup limits. With sudo: --uid-map, --ip and",
            "limits too. Without a command: the image's (or an interactive shell) inside."})
public class Main implements Callable<Integer> {

    @Option(names = "--rootfs", paramLabel = "DIR", defaultValue = "rootfs",
            description = "The container's root filesystem (default: ${DEFAULT-VALUE}, the busybox root made by scripts/setup).")
    Path rootfs;

    @Option(names = "--image", paramLabel = "IMAGE", description = "Run this image of the store (made by build or commit) instead of --rootfs,"
            + " on an overlay: its layers read-only, the container's changes in a directory of its own.")
    String imageName;

    @Option(names = "--name", paramLabel = "NAME", description = "With --image: the container's name in the store (default: the stage's PID).")
    String containerName;

    @Option(names = "--keep", description = "With --image: keep the container's changes when it ends, for commit (docker run without --rm).")
    boolean keepChanges;

    @Option(names = "--store", paramLabel = "DIR", description = "Where images, layers and containers live"
            + " (default: /var/lib/workbook with sudo, ~/.local/share/workbook without).")
    Path storeDir;

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
            description = "Map COUNT user IDs from CONTAINER inside to HOST outside. Repeatable; needs sudo. Default: 0:YOUR_UID:1.")
    List<String> uidMapSpecs = new ArrayList<>();

    @Option(names = "--gid-map", paramLabel = "CONTAINER:HOST:COUNT",
            description = "The same for group IDs. Default: 0:YOUR_GID:1.")
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

    @Option(names = "--cap-add", paramLabel = "CAPABILITY",
            description = "Keep this capability too (NET_ADMIN, CAP_NET_ADMIN, or ALL), as docker run --cap-add. Repeatable.")
    List<String> capAdds = new ArrayList<>();

    @Option(names = "--cap-drop", paramLabel = "CAPABILITY",
            description = "Give up this capability of the default set (or ALL), as docker run --cap-drop. Repeatable.")
    List<String> capDrops = new ArrayList<>();

    @Option(names = "--security-opt", paramLabel = "seccomp=unconfined",
            description = "seccomp=unconfined: no seccomp filter, as docker run --security-opt seccomp=unconfined.")
    List<String> securityOpts = new ArrayList<>();

    @Option(names = "--cgroup-fs", paramLabel = "DIR", hidden = true,
            description = "Treat DIR as a cgroup v2 mount (the tests check the v2 files on a machine that runs v1).")
    Path cgroupFs;

    @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
    boolean quiet;


    @Parameters(paramLabel = "COMMAND", description = "Command and arguments to run inside (default: /bin/sh).")
    List<String> command = new ArrayList<>();

    static List<String> forInit; // what init is told of the options: see settingsForInit
    Set<Integer> keep; // the capabilities the container keeps: see Capabilities.kept
    boolean seccomp = true;
    String overlay; // the overlay's mount options, for init: see Overlay.options

    /** The host's "/" as device and inode, read when init starts, before any mount. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    public static void main(String[] args) {
        if (args.length > 3 && args[0].equals("--init") && args[1].equals("--bundle"))
            System.exit(BundleInit.run(Path.of(args[2]), Boolean.parseBoolean(args[3])));
        if (args.length > 0 && args[0].equals("--init")) System.exit(runAsInit(args));
        if (args.length > 3 && args[0].equals("--exec"))
            System.exit(ExecProcess.runInside(Path.of(args[1]), Path.of(args[2]), Boolean.parseBoolean(args[3])));
        CommandLine cli = new CommandLine(new Main());
        // `oci exec ID sh -c ...`: as runc reads it, what follows the ID is the command, options and all
        cli.getSubcommands().get("oci").getSubcommands().get("exec").setStopAtPositional(true);
        cli.setParameterExceptionHandler((e, a) -> fail(optionError(e) + " (see --help)"));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            if (interrupted != 0) return 128 + interrupted; // undone, and nothing to say
            if (e instanceof StageFailure) {
                RuntimeCommands.logError(e.getMessage());
                return fail(e.getMessage());
            }
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
        List<String> settings = new ArrayList<>(List.of("rootfs=" + rootfs, "hostname=" + hostname, "quiet=" + quiet, "escape=" + escape,
                "caps=" + namesOf(keep), "seccomp=" + seccomp));
        for (String volume : volumeSpecs) settings.add("volume=" + volume);
        if (overlay != null) settings.add("overlay=" + overlay);
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
        } catch (StageFailure | IOException e) {
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
            case "caps" -> keep = Capabilities.parse(value);
            case "seccomp" -> seccomp = Boolean.parseBoolean(value);
            case "overlay" -> overlay = value;
            default -> throw new IllegalArgumentException("init has no setting " + name);
        }
    }
    // end::handover[]

    // tag::main[]
    @Override
    public Integer call() throws Exception {
        takeSignals();
        narrating = !quiet;
        keep = kept(capAdds, capDrops);
        seccomp = seccompWanted(securityOpts);
        boolean rootless = LIBC.geteuid() != 0;
        checkHostname(hostname);
        Store store = Store.at(storeDir);
        Image image = imageName == null ? null : Image.find(store, imageName);
        if (image == null && (keepChanges || containerName != null)) throw new StageFailure("--keep and --name go with --image");
        if (image != null) requireOverlay(rootless);
        if (containerName != null) ImageCommands.checkContainerName(containerName);
        if (image != null && command.isEmpty()) command = image.cmd();
        Path root = image == null ? checkRootfs(rootfs) : null;
        // Init gets the directory found, by its full path: as root inside, it sees the host's
        // owners as nobody, and could not tell a workbook above it from one someone planted.
        if (root != null) rootfs = root;
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
        List<Path> madeOnHost = image == null ? createMountPoints(root, volumes) : prepareOverlay(store, image, maps.rootOnHost(), rootless);
        forInit = settingsForInit();
        if (escape && image == null) madeOnHost.add(root.resolve("breakout")); // init's escape attempt makes it
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

    // tag::prepare-overlay[]
    /**
     * The parent's part: the image's layers unpacked into the store (once), and the container's
     * own directories beside them, which go when it ends unless --keep says otherwise. Init,
     * told the mount's options, makes the mount itself, in the container's mount namespace.
     */
    List<Path> prepareOverlay(Store store, Image image, int rootOnHost, boolean rootless) throws IOException {
        List<Path> layers = Layers.unpackAll(store, image, rootless);
        String name = containerName != null ? containerName : Long.toString(ProcessHandle.current().pid());
        Overlay.Dirs dirs = Overlay.create(store.container(name), rootOnHost);
        Files.writeString(dirs.container().resolve("image"), image.name() + " " + image.manifest()); // for commit
        Files.writeString(dirs.container().resolve("pid"), Long.toString(ProcessHandle.current().pid())); // "still runs?"
        overlay = Overlay.options(layers, dirs);
        rootfs = dirs.merged();
        return new ArrayList<>(keepChanges ? List.of() : List.of(dirs.container()));
    }
    // end::prepare-overlay[]

    // tag::init[]
    /** Runs as PID 1 in the new namespaces; ends by becoming the command. */
    int runInit() throws IOException {
        // If the parent dies, so does the container (kept across execve).
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        waitForParent();
        switchUser(0, 0);
        enterOwnCgroupNamespace();
        setHostname(hostname);
        bringLoopbackUp();
        makeMountsPrivate();
        Path root = rootOfTheContainer();
        for (Volume volume : Volume.parseAll(volumeSpecs)) mountVolume(root, volume);
        mountProc(root);
        hideHostWideFiles(root);
        switchRoot(root);
        if (escape) tryToBreakOut();
        dropPrivileges(User.parse(userSpec));
        List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
        return execute(argv, containerEnvironment(hostname));
    }
    // end::init[]

    // tag::root-of-the-container[]
    /**
     * A root filesystem directory is bind-mounted onto itself, as pivot_root needs a mount point;
     * an image's overlay is a mount point of its own. Its /dev is made here (an image has none),
     * and the volumes' mount points, which go into the container's upper directory.
     */
    Path rootOfTheContainer() throws IOException {
        if (overlay == null) {
            Path root = checkRootfs(rootfs);
            bindRootfsOntoItself(root);
            return root;
        }
        mountOverlay(rootfs, overlay);
        mountDev(rootfs);
        createMountPoints(rootfs, Volume.parseAll(volumeSpecs));
        return rootfs;
    }
    // end::root-of-the-container[]

    // tag::drop-privileges[]
    /**
     * In runc's order. The bounding set first, while init still holds CAP_SETPCAP. Then the
     * user: setresuid(2) away from root empties the permitted and effective sets, unless
     * PR_SET_KEEPCAPS asks to keep permitted, which capset(2) then trims to the container's
     * set (execve empties it anyway for a user other than root, who has no file capabilities
     * here). The seccomp filter comes last, so that nothing init still has to do is refused.
     */
    void dropPrivileges(User user) {
        dropBoundingSet(keep);
        if (user != null) {
            check("prctl(PR_SET_KEEPCAPS, 1)", () -> LIBC.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "");
            switchUser(user.uid(), user.gid());
            check("prctl(PR_SET_KEEPCAPS, 0)", () -> LIBC.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "");
        }
        limitTo(keep);
        noNewPrivileges();
        if (seccomp) install(filter(thisArch()));
    }
    // end::drop-privileges[]
}

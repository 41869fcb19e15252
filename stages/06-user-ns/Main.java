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

// Stage 06: rootless. A user namespace makes an ordinary user root inside the container and
// nobody special outside. The parent writes the uid and gid maps while init waits; then init
// becomes root of its namespace. The JVM cannot create a user namespace (it has threads), so a
// single-threaded program, util-linux's unshare, creates the namespaces, as runc does in C for Go.
//
//   jbang stages/06-user-ns/Main.java -- /bin/sh -c 'id; cat /proc/self/uid_map'     no sudo
//   jbang stages/06-user-ns/Main.java --hostname mine -- /bin/hostname
//   sudo jbang stages/06-user-ns/Main.java --uid-map 0:100000:65536 --gid-map 0:100000:65536 --user 1000
//   jbang stages/06-user-ns/Main.java exec PID -- /bin/id                  enter a running container

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.IntSupplier;
import java.util.stream.Stream;

import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.types.gid_t;
import jnr.ffi.types.uid_t;
import picocli.CommandLine;
import picocli.CommandLine.*;

@Command(name = "06-user-ns", mixinStandardHelpOptions = true, version = "workbook stage 06",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = Main.Exec.class,
        description = {
            "Runs a command in a user namespace (root inside, you outside) and in its own UTS, PID,",
            "IPC, mount and network namespaces. Needs no root: run by an ordinary user, the network",
            "is loopback only and there are no cgroup limits. With sudo: --uid-map, --ip and limits too.",
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

    @Option(names = "--ip", paramLabel = "ADDRESS/PREFIX",
            description = "The container's address on the bridge wb0, with sudo (default: the first free one in 10.213.0.0/24). Without sudo: loopback only.")
    String ip;

    @Option(names = "--cgroup-fs", paramLabel = "DIR", hidden = true,
            description = "Treat DIR as a cgroup v2 mount (the tests check the v2 files on a machine that runs v1).")
    Path cgroupFs;

    @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
    boolean quiet;

    @Option(names = "--init", hidden = true, description = "Internal: run as the container's init.")
    boolean init;

    @Parameters(paramLabel = "COMMAND", description = "Command and arguments to run inside (default: /bin/sh).")
    List<String> command = new ArrayList<>();

    static final int STAGE_FAILED = 125; // like `docker run`: the stage itself failed, not the command
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");
    static final int HOST_NAME_MAX = 64; // <limits.h>: sethostname(2) refuses longer names with EINVAL
    static final int INIT_PIPE_FD = 3;   // where init finds its end of the start pipe
    static final int READY_PIPE_FD = 4;  // where init says it is up
    static String[] commandLine;         // as given: init gets the same, plus --init
    static final String NAME = "06-user-ns";

    public static void main(String[] args) {
        commandLine = args;
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, a) -> fail(e.getMessage() + " (see --help)"));
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
        boolean rootless = LIBC.geteuid() != 0;
        checkHostname(hostname);
        Path root = checkRootfs(rootfs);
        List<Volume> volumes = Volume.parseAll(volumeSpecs);
        Limits limits = Limits.check(cpus, cpuShares, memory, pidsLimit);
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
        try {
            if (network != null) address = network.join(requested);
            if (cgroup != null) cgroup.create(NAME + "-" + ProcessHandle.current().pid(), limits, madeOnHost);
            recordMadeOnHost(madeOnHost);
            showThatTheJvmCannotCreateAUserNamespace();
            Container container = startInit();
            // Only once init's JVM is up: it starts a dozen threads on the way, and under a
            // tight --pids-limit it could not start at all.
            container.awaitReady();
            maps.writeFor(container.pid, rootless);
            if (cgroup != null) cgroup.join(container.pid);
            if (network != null) network.connect(container.pid, address);
            forwardSignals(container.pid);
            printNamespaces(container.pid);
            if (narrating && cgroup != null) meter = startMeter(cgroup, limits.cpus());
            container.release();
            return container.awaitExit();
        } finally {
            if (meter != null) meter.interrupt();
            if (address != null) network.leave();
            removeFromHost(madeOnHost);
            if (cgroup != null) cgroup.removeSharedParentIfEmpty();
            forget(record);
        }
    }
    // end::main[]

    // ---------------------------------------------------------------- checks

    // tag::userns-allowed[]
    /** The kernel, and some distributions, can forbid unprivileged user namespaces: say which setting, and the fix. */
    static void requireUserNamespaces(boolean rootless) {
        if (sysctl("user/max_user_namespaces").equals("0"))
            throw new StageFailure("user namespaces are disabled: user.max_user_namespaces is 0 (sudo sysctl -w user.max_user_namespaces=15000)");
        if (!rootless) return;
        if (sysctl("kernel/unprivileged_userns_clone").equals("0"))
            throw new StageFailure("only root may create user namespaces here: kernel.unprivileged_userns_clone is 0 (sudo sysctl -w kernel.unprivileged_userns_clone=1)");
        if (sysctl("kernel/apparmor_restrict_unprivileged_userns").equals("1"))
            throw new StageFailure("AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns is 1"
                    + " (sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns for unshare)");
    }

    /**
     * In one read(2): the kernel answers a read of a number in /proc/sys that does not start at
     * offset 0 with end-of-file, and Files.readString would read "15000" as "1" then stop.
     */
    static String sysctl(String name) {
        Path file = Path.of("/proc/sys", name);
        if (!Files.exists(file)) return "";
        try (var in = Files.newBufferedReader(file)) {
            return in.readLine().trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
    // end::userns-allowed[]

    // tag::rootless-limits[]
    /**
     * Creating a cgroup takes write access to a cgroup directory, which an ordinary user has
     * only where systemd delegated a cgroup v2 subtree to them, as rootless Podman asks it to:
     *   systemd-run --user --scope -p Delegate=yes jbang stages/06-user-ns/Main.java --memory 64m
     * runs the stage in a group of its own that belongs to the user. A group that holds
     * processes cannot hand controllers down to children (v2's "no internal processes" rule),
     * so the parent first moves into a leaf group, "parent"; the container's group then goes
     * under "workbook" beside it, as with root. systemd removes the whole subtree with the scope.
     */
    static Cgroup delegatedCgroup(Path fakeV2, Limits limits) {
        List<String> needed = new ArrayList<>();
        if (limits.cpus() != null || limits.cpuShares() != null) needed.add("cpu");
        if (limits.memoryBytes() != null) needed.add("memory");
        if (limits.pids() != null) needed.add("pids");
        if (needed.isEmpty()) {
            narrate("cgroup: none, no limit was asked for");
            return null;
        }
        Path v2 = fakeV2 != null ? fakeV2 : cgroupMounts("cgroup2").get("");
        Path own = v2 == null ? null : v2.resolve(ownCgroup());
        if (own == null || !Files.isWritable(own.resolve("cgroup.subtree_control")))
            throw new StageFailure("--cpus, --cpu-shares, --memory and --pids-limit need a cgroup, and an ordinary user may create"
                    + " cgroups only in a cgroup v2 group systemd delegated to them: run it with sudo, or under"
                    + " systemd-run --user --scope -p Delegate=yes");
        Set<String> offered = Set.of(read(own.resolve("cgroup.controllers")).trim().split("\\s+"));
        for (String controller : needed)
            if (!offered.contains(controller))
                throw new StageFailure("the cgroup systemd delegated to you, " + own + ", has no " + controller + " controller (it has "
                        + offered + "): add it to Delegate= for user@.service, or run it with sudo");
        narrate("cgroup v2, delegated to you by systemd: " + own);
        Path leaf = own.resolve("parent");
        mkdir(leaf);
        write(leaf.resolve("cgroup.procs"), Long.toString(ProcessHandle.current().pid()));
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String controller : needed) mounts.put(controller, own);
        return new Cgroup(2, mounts);
    }

    /** This process's cgroup v2 group, from the "0::PATH" line of /proc/self/cgroup, relative to the mount. */
    static String ownCgroup() {
        return read(Path.of("/proc/self/cgroup")).lines().filter(l -> l.startsWith("0::")).findFirst()
                .map(l -> l.substring(4)).orElse("");
    }

    /** Creating a veth pair or a bridge needs CAP_NET_ADMIN over the host's network namespace. */
    static Network loopbackOnly(Address requested) {
        String why = "an ordinary user may not create links on the host (rootless Podman uses slirp4netns or pasta instead)";
        if (requested != null) throw new StageFailure("--ip needs the bridge wb0, and " + why + ": run it with sudo to use it");
        narrate("network: loopback only, " + why);
        return null;
    }
    // end::rootless-limits[]

    static void checkHostname(String name) {
        if (name.isEmpty() || name.length() > HOST_NAME_MAX)
            throw new StageFailure("--hostname must be 1 to " + HOST_NAME_MAX + " characters (HOST_NAME_MAX); \""
                    + (name.length() > 20 ? name.substring(0, 20) + "..." : name) + "\" has " + name.length());
    }

    static Path checkRootfs(Path dir) {
        if (!Files.isDirectory(dir))
            throw new StageFailure("rootfs not found: " + dir + " (run scripts/setup from the workbook root, or pass --rootfs DIR)");
        if (!Files.isDirectory(dir.resolve("proc")))
            throw new StageFailure("rootfs " + dir + " has no /proc directory to mount proc on (scripts/setup builds a complete one)");
        return dir.toAbsolutePath().normalize();
    }

    static void requireNamespaces(String... kinds) {
        for (String kind : kinds)
            if (!Files.exists(Path.of("/proc/self/ns", kind)))
                throw new StageFailure("this kernel has no " + kind + " namespace (/proc/self/ns/" + kind + " is missing): use the course VM");
    }

    // tag::volume[]
    /** --volume HOST_DIR:CONTAINER_DIR[:ro], checked before anything is created. */
    record Volume(Path host, Path inside, boolean readOnly) {
        static List<Volume> parseAll(List<String> specs) {
            return specs.stream().map(Volume::parse).toList();
        }

        static Volume parse(String spec) {
            String[] parts = spec.split(":", -1);
            if (parts.length < 2 || parts.length > 3 || (parts.length == 3 && !parts[2].equals("ro")))
                throw new StageFailure("--volume " + spec + ": expected HOST_DIR:CONTAINER_DIR or HOST_DIR:CONTAINER_DIR:ro");
            Path host = Path.of(parts[0]), inside = Path.of(parts[1]);
            if (!host.isAbsolute() || !inside.isAbsolute())
                throw new StageFailure("--volume " + spec + ": both directories must be absolute paths");
            if (!Files.isDirectory(host))
                throw new StageFailure("--volume " + spec + ": no such directory on the host: " + host);
            if (inside.normalize().getNameCount() == 0)
                throw new StageFailure("--volume " + spec + ": cannot mount over the container's /");
            return new Volume(host.normalize(), inside.normalize(), parts.length == 3);
        }
    }
    // end::volume[]

    /** A bind mount needs a directory to land on; the parent makes missing ones and removes them after. */
    static List<Path> createMountPoints(Path root, List<Volume> volumes) throws IOException {
        List<Path> made = new ArrayList<>();
        for (Volume volume : volumes) {
            Path onHost = root.resolve(volume.inside().toString().substring(1));
            if (Files.isDirectory(onHost)) continue;
            for (Path p = onHost; !Files.exists(p); p = p.getParent()) made.add(0, p);
            try {
                Files.createDirectories(onHost);
            } catch (AccessDeniedException e) {
                throw new StageFailure("--volume " + volume.host() + ":" + volume.inside() + ": cannot create the mount point in "
                        + root + ", which is not yours: use a directory the rootfs has, such as /mnt");
            }
            narrate("mkdir -p " + onHost + " (a mount point for the volume)");
        }
        return made;
    }

    static void removeFromHost(List<Path> made) {
        for (int i = made.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(made.get(i));
            } catch (IOException e) {
                System.err.println(NAME + ": could not remove " + made.get(i) + ": " + e.getMessage());
            }
        }
    }

    // tag::crash-record[]
    /**
     * A parent killed with SIGKILL cleans nothing up (its container dies with it). So it writes
     * down what it made on the host, in /run/workbook/STAGE.PID, and the next run of the stage
     * undoes what runs whose PID is gone left behind. (/run is emptied at every boot.) An
     * ordinary user, who may not write there, keeps them in /tmp/workbook-runs-UID.
     */
    static final int UID = ownerOf(Path.of("/proc/self")); // whoever runs this process owns its /proc entry
    static final Path RECORDS = Path.of(UID == 0 ? "/run/workbook" : "/tmp/workbook-runs-" + UID);

    static Path recordMadeOnHost(List<Path> made) throws IOException {
        Files.createDirectories(RECORDS);
        return Files.write(RECORDS.resolve(NAME + "." + ProcessHandle.current().pid()), made.stream().map(Path::toString).toList());
    }

    static int ownerOf(Path file) {
        try {
            return (int) Files.getAttribute(file, "unix:uid");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void forget(Path record) throws IOException {
        Files.deleteIfExists(record);
        if (UID != 0) {
            try {
                Files.deleteIfExists(RECORDS);
            } catch (DirectoryNotEmptyException anotherRun) {
                // another container of this user still runs
            }
        }
    }

    static void undoCrashedRuns() throws IOException {
        if (!Files.isDirectory(RECORDS)) return;
        try (Stream<Path> records = Files.list(RECORDS)) {
            for (Path record : records.filter(r -> r.getFileName().toString().matches(NAME + "\\.\\d+")).toList()) {
                long pid = Long.parseLong(record.getFileName().toString().substring(NAME.length() + 1));
                if (ProcessHandle.of(pid).isPresent()) continue; // a run still going
                List<Path> made = Files.readAllLines(record).stream().map(Path::of).toList();
                narrate("undoing a crashed run (pid " + pid + "): removing " + made);
                removeFromHost(made);
                Files.delete(record);
            }
        }
    }
    // end::crash-record[]

    // ---------------------------------------------------------------- parent: the cgroup

    // tag::limits[]
    /** The limits asked for, checked before anything is created; null means "no limit". */
    record Limits(Double cpus, Long cpuShares, Long memoryBytes, Long pids) {
        static final long PERIOD_US = 100_000; // the scheduler's accounting period: 100 ms

        static Limits check(Double cpus, Long shares, String memory, Long pids) {
            int cpuCount = java.lang.Runtime.getRuntime().availableProcessors();
            if (cpus != null && (cpus < 0.01 || cpus > cpuCount))
                throw new StageFailure("--cpus must be between 0.01 and " + cpuCount + " (this machine's CPUs), not " + cpus);
            if (shares != null && (shares < 2 || shares > 262_144))
                throw new StageFailure("--cpu-shares must be between 2 and 262144, not " + shares);
            Long bytes = memory == null ? null : parseSize(memory);
            if (bytes != null && bytes < 6 << 20)
                throw new StageFailure("--memory must be at least 6m (a shell and its libraries need that much), not " + memory);
            if (pids != null && pids < 1)
                throw new StageFailure("--pids-limit must be at least 1, not " + pids);
            return new Limits(cpus, shares, bytes, pids);
        }

        static long parseSize(String size) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([bkmg]?)", java.util.regex.Pattern.CASE_INSENSITIVE).matcher(size);
            if (!m.matches()) throw new StageFailure("--memory " + size + ": expected a size such as 67108864, 65536k, 64m or 1g");
            int shift = switch (m.group(2).toLowerCase()) { case "k" -> 10; case "m" -> 20; case "g" -> 30; default -> 0; };
            return Long.parseLong(m.group(1)) << shift;
        }

        long quotaMicros() {
            return Math.round(cpus * PERIOD_US);
        }
    }
    // end::limits[]

    // tag::limit-files[]
    /** cgroup v1: a hierarchy per controller, each knob a file in the group's directory there. */
    static Map<String, String> v1Files(Limits limits) {
        Map<String, String> files = new LinkedHashMap<>();
        if (limits.cpus() != null) {
            files.put("cpu/cpu.cfs_period_us", Long.toString(Limits.PERIOD_US));
            files.put("cpu/cpu.cfs_quota_us", Long.toString(limits.quotaMicros()));
        }
        if (limits.cpuShares() != null) files.put("cpu/cpu.shares", Long.toString(limits.cpuShares()));
        if (limits.memoryBytes() != null) files.put("memory/memory.limit_in_bytes", Long.toString(limits.memoryBytes()));
        if (limits.pids() != null) files.put("pids/pids.max", Long.toString(limits.pids()));
        return files;
    }

    /** cgroup v2: one tree, every controller's files in the one directory, some knobs renamed. */
    static Map<String, String> v2Files(Limits limits) {
        Map<String, String> files = new LinkedHashMap<>();
        if (limits.cpus() != null) files.put("cpu/cpu.max", limits.quotaMicros() + " " + Limits.PERIOD_US);
        if (limits.cpuShares() != null) files.put("cpu/cpu.weight", Long.toString(weightOf(limits.cpuShares())));
        if (limits.memoryBytes() != null) {
            files.put("memory/memory.max", Long.toString(limits.memoryBytes()));
            files.put("memory/memory.swap.max", "0"); // else the kernel swaps instead of killing
        }
        if (limits.pids() != null) files.put("pids/pids.max", Long.toString(limits.pids()));
        return files;
    }

    /** v1's shares (2 to 262144, default 1024) onto v2's weight (1 to 10000, default 100), as runc maps them. */
    static long weightOf(long shares) {
        return 1 + ((shares - 2) * 9999) / 262_142;
    }
    // end::limit-files[]

    // tag::cgroup[]
    /**
     * The container's cgroup. A cgroup is a directory in a cgroup filesystem: mkdir creates the
     * group, writing a PID to its cgroup.procs moves that process in (its children follow it),
     * writing a control file sets a limit, and rmdir removes the empty group.
     */
    static final class Cgroup {
        final int version;
        final Map<String, Path> mounts;               // controller -> where its hierarchy is mounted
        final Map<String, Path> groups = new LinkedHashMap<>(); // controller -> the container's group there

        Cgroup(int version, Map<String, Path> mounts) {
            this.version = version;
            this.mounts = mounts;
        }

        /** v2 if the unified hierarchy offers the cpu controller, else v1 if a hierarchy has it. */
        static Cgroup find(Path fakeV2, Limits limits) {
            List<String> needed = neededControllers(limits);
            Path v2 = fakeV2 != null ? fakeV2 : cgroupMounts("cgroup2").get("");
            Set<String> v2Controllers = v2 == null ? Set.of() : Set.of(read(v2.resolve("cgroup.controllers")).trim().split("\\s+"));
            if (v2Controllers.contains("cpu")) {
                for (String controller : needed)
                    if (!v2Controllers.contains(controller))
                        throw new StageFailure("cgroup v2 at " + v2 + " has no " + controller + " controller (it offers " + v2Controllers + ")");
                narrate("cgroup v2: one hierarchy at " + v2 + ", controllers " + String.join(" ", new TreeSet<>(v2Controllers)));
                Map<String, Path> mounts = new LinkedHashMap<>();
                for (String controller : needed) mounts.put(controller, v2);
                return new Cgroup(2, mounts);
            }
            Map<String, Path> v1 = cgroupMounts("cgroup");
            if (!v1.containsKey("cpu"))
                throw new StageFailure("no usable cpu controller: cgroup v2" + (v2 == null ? " is not mounted" : " at " + v2 + " offers " + v2Controllers)
                        + " and no cgroup v1 hierarchy has cpu. The course VM has it; elsewhere boot with systemd.unified_cgroup_hierarchy=1");
            Map<String, Path> mounts = new LinkedHashMap<>();
            for (String controller : needed) {
                if (!v1.containsKey(controller))
                    throw new StageFailure("no cgroup v1 hierarchy has the " + controller + " controller (mounted: " + v1.keySet() + ")");
                mounts.put(controller, v1.get(controller));
            }
            if (v1.containsKey("cpuacct")) mounts.put("cpuacct", v1.get("cpuacct")); // v1 counts CPU time there
            narrate("cgroup v1: a hierarchy per controller: " + mounts);
            return new Cgroup(1, mounts);
        }

        static List<String> neededControllers(Limits limits) {
            List<String> needed = new ArrayList<>(List.of("cpu"));
            if (limits.memoryBytes() != null) needed.add("memory");
            if (limits.pids() != null) needed.add("pids");
            return needed;
        }

        /** Creates the group in each hierarchy (adding each to made) and writes the limits. */
        void create(String name, Limits limits, List<Path> made) {
            for (Map.Entry<String, Path> mount : mounts.entrySet()) {
                Path group = mount.getValue().resolve(WORKBOOK_GROUP).resolve(name);
                if (!groups.containsValue(group)) {
                    if (version == 2) enableControllers(mount.getValue(), mount.getValue().resolve(WORKBOOK_GROUP));
                    mkdir(group);
                    made.add(group);
                }
                groups.put(mount.getKey(), group);
            }
            (version == 1 ? v1Files(limits) : v2Files(limits)).forEach((file, value) -> {
                String[] controllerAndName = file.split("/");
                Path target = groups.get(controllerAndName[0]).resolve(controllerAndName[1]);
                if (controllerAndName[1].equals("memory.swap.max") && !Files.exists(target)) return; // no swap accounting
                write(target, value);
            });
        }

        /** v2 offers a controller to a group's children only if the group's cgroup.subtree_control lists it. */
        void enableControllers(Path root, Path workbookGroup) {
            String enable = mounts.keySet().stream().map(c -> "+" + c).reduce((a, b) -> a + " " + b).orElseThrow();
            write(root.resolve("cgroup.subtree_control"), enable);
            mkdir(workbookGroup);
            write(workbookGroup.resolve("cgroup.subtree_control"), enable);
        }

        /** Moves init into the group in every hierarchy, before it runs anything of the container's. */
        void join(int pid) {
            for (Path group : new LinkedHashSet<>(groups.values())) write(group.resolve("cgroup.procs"), Integer.toString(pid));
        }

        /** CPU time the group has used, in microseconds, from the kernel's own accounting; -1 if unreadable. */
        long usageMicros() {
            try {
                if (version == 2)
                    return read(groups.get("cpu").resolve("cpu.stat")).lines().filter(l -> l.startsWith("usage_usec "))
                            .mapToLong(l -> Long.parseLong(l.substring(11).trim())).findFirst().orElse(-1);
                Path accounting = groups.get("cpuacct");
                return accounting == null ? -1 : Long.parseLong(read(accounting.resolve("cpuacct.usage")).trim()) / 1000;
            } catch (RuntimeException e) {
                return -1;
            }
        }

        /** The workbook's own group holds the containers' groups; the last container out removes it. */
        void removeSharedParentIfEmpty() {
            for (Path mount : new LinkedHashSet<>(mounts.values())) {
                try {
                    Files.deleteIfExists(mount.resolve(WORKBOOK_GROUP));
                } catch (IOException stillInUse) {
                    // another container of the workbook is running
                }
            }
        }
    }
    // end::cgroup[]

    static final String WORKBOOK_GROUP = "workbook";

    /** Mount points of cgroup filesystems of a type, by controller ("" for cgroup2). */
    static Map<String, Path> cgroupMounts(String type) {
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String line : read(Path.of("/proc/self/mountinfo")).lines().toList()) {
            String[] halves = line.split(" - ");
            String[] left = halves[0].split(" "), right = halves[1].split(" ");
            if (!right[0].equals(type)) continue;
            Path mountPoint = Path.of(left[4]);
            if (type.equals("cgroup2")) mounts.putIfAbsent("", mountPoint);
            else for (String option : right[2].split(",")) mounts.putIfAbsent(option, mountPoint);
        }
        return mounts;
    }

    static void mkdir(Path dir) {
        if (Files.isDirectory(dir)) return;
        narrate("mkdir " + dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StageFailure("mkdir " + dir + " failed: " + e.getMessage());
        }
    }

    static void write(Path file, String value) {
        narrate("echo " + value + " > " + file);
        try {
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new StageFailure("cannot write \"" + value + "\" to " + file + ": " + e.getMessage());
        }
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // tag::meter[]
    /** Once a second: the CPUs the container used in that second, against its limit. */
    static Thread startMeter(Cgroup cgroup, Double limit) {
        Thread meter = new Thread(() -> {
            long before = cgroup.usageMicros(), then = System.nanoTime();
            while (before >= 0 && !Thread.currentThread().isInterrupted()) {
                sleep(1000);
                long used = cgroup.usageMicros(), now = System.nanoTime();
                if (used < 0 || Thread.currentThread().isInterrupted()) return;
                narrate(meterLine((used - before) * 1000.0 / (now - then), limit));
                before = used;
                then = now;
            }
        }, "meter");
        meter.setDaemon(true);
        meter.start();
        return meter;
    }

    static String meterLine(double cpus, Double limit) {
        double full = limit != null ? limit : java.lang.Runtime.getRuntime().availableProcessors();
        int eighths = (int) Math.round(Math.min(cpus / full, 1) * 20 * 8);
        String bar = "\u2588".repeat(eighths / 8) + (eighths % 8 == 0 ? "" : String.valueOf((char) ('\u2590' - eighths % 8)));
        return String.format("cpu %.2f / %s %s", cpus, limit != null ? String.format("%.2f", limit) : "no limit", bar);
    }
    // end::meter[]

    // ---------------------------------------------------------------- parent: the user namespace

    // tag::id-maps[]
    /**
     * uid_map and gid_map hold lines of "first-ID-inside first-ID-outside count". The kernel
     * lets each map be written once, and only by a process with CAP_SETUID (CAP_SETGID) over
     * the namespace's parent: root on the host may map any range. Anyone else may map exactly
     * one ID, their own; and for gid_map only once setgroups(2) is denied in the namespace,
     * else root inside could drop a group the host uses to keep it *out* of a file (mode 0705).
     */
    record IdMaps(List<long[]> uids, List<long[]> gids) {
        static IdMaps check(List<String> uidSpecs, List<String> gidSpecs, boolean rootless) {
            int uid = LIBC.geteuid(), gid = LIBC.getegid();
            List<long[]> uids = uidSpecs.isEmpty() ? List.of(new long[]{0, uid, 1}) : parse("--uid-map", uidSpecs);
            List<long[]> gids = gidSpecs.isEmpty() ? List.of(new long[]{0, gid, 1}) : parse("--gid-map", gidSpecs);
            if (rootless) {
                onlyYourOwn("--uid-map", uids, uid);
                onlyYourOwn("--gid-map", gids, gid);
            }
            requireRootInside("--uid-map", uids);
            requireRootInside("--gid-map", gids);
            return new IdMaps(uids, gids);
        }

        static List<long[]> parse(String option, List<String> specs) {
            List<long[]> map = new ArrayList<>();
            for (String spec : specs) {
                if (!spec.matches("\\d{1,10}:\\d{1,10}:\\d{1,10}"))
                    throw new StageFailure(option + " " + spec + ": expected CONTAINER:HOST:COUNT, e.g. 0:100000:65536");
                long[] line = Arrays.stream(spec.split(":")).mapToLong(Long::parseLong).toArray();
                if (line[2] < 1 || line[0] + line[2] > 1L << 32 || line[1] + line[2] > 1L << 32)
                    throw new StageFailure(option + " " + spec + ": COUNT must be at least 1, and IDs end below 4294967296");
                for (long[] earlier : map)
                    if (overlap(line, earlier, 0) || overlap(line, earlier, 1))
                        throw new StageFailure(option + " " + spec + " overlaps " + earlier[0] + ":" + earlier[1] + ":" + earlier[2]
                                + ": each ID may be mapped once, each way");
                map.add(line);
            }
            return map;
        }

        static boolean overlap(long[] a, long[] b, int side) {
            return a[side] < b[side] + b[2] && b[side] < a[side] + a[2];
        }

        static void onlyYourOwn(String option, List<long[]> map, long own) {
            if (map.size() != 1 || map.get(0)[1] != own || map.get(0)[2] != 1)
                throw new StageFailure(option + ": an ordinary user may map one ID only, their own (" + own
                        + "): run it with sudo for more (rootless Podman gets more from newuidmap and /etc/subuid)");
        }

        static void requireRootInside(String option, List<long[]> map) {
            if (map.stream().noneMatch(line -> line[0] == 0))
                throw new StageFailure(option + ": nothing is mapped to 0 inside, so there would be no root to set the container up");
        }

        /** --user must name IDs that exist inside: an unmapped uid cannot be switched to (EINVAL). */
        void requireMapped(User user) {
            if (user == null) return;
            if (!covers(uids, user.uid())) throw new StageFailure("--user: uid " + user.uid() + " is not mapped inside: add a --uid-map that covers it");
            if (!covers(gids, user.gid())) throw new StageFailure("--user: gid " + user.gid() + " is not mapped inside: add a --gid-map that covers it");
        }

        static boolean covers(List<long[]> map, long id) {
            return map.stream().anyMatch(line -> line[0] <= id && id < line[0] + line[2]);
        }

        /** While init waits on the start pipe: its namespace has no IDs at all until these are written. */
        void writeFor(int pid, boolean rootless) {
            Path proc = Path.of("/proc/" + pid);
            write(proc.resolve("uid_map"), lines(uids));
            if (rootless) write(proc.resolve("setgroups"), "deny");
            write(proc.resolve("gid_map"), lines(gids));
        }

        static String lines(List<long[]> map) {
            return String.join("\n", map.stream().map(line -> line[0] + " " + line[1] + " " + line[2]).toList());
        }
    }
    // end::id-maps[]

    /** --user UID[:GID] (GID defaults to UID): whom the command runs as inside, once init is done. */
    record User(long uid, long gid) {
        static User parse(String spec) {
            if (spec == null) return null;
            if (!spec.matches("\\d{1,10}(:\\d{1,10})?"))
                throw new StageFailure("--user " + spec + ": expected UID or UID:GID as numbers (the rootfs knows no names but root)");
            String[] ids = spec.split(":");
            return new User(Long.parseLong(ids[0]), Long.parseLong(ids[ids.length - 1]));
        }
    }

    // tag::einval[]
    /**
     * The earlier stages call unshare(2) from a thread of the JVM. For a user namespace the
     * kernel refuses that with EINVAL: a process with more than one thread may not change its
     * user namespace, since its threads share memory but would no longer share credentials.
     * A JVM always has a dozen threads. Tried here anyway, on a thread of its own, to see it.
     */
    static void showThatTheJvmCannotCreateAUserNamespace() throws InterruptedException {
        Thread attempt = new Thread(() -> {
            int result = LIBC.unshare(CLONE_NEWUSER);
            int errno = Runtime.getRuntime(LIBC).getLastError();
            narrate("unshare(CLONE_NEWUSER) = " + (result == 0 ? "0" : "-1 " + describe(errno))
                    + ": the JVM has more than one thread, as it always has");
        }, "try-userns");
        attempt.start();
        attempt.join();
    }
    // end::einval[]

    // ---------------------------------------------------------------- parent: the network

    // tag::address[]
    /** An IPv4 address and its prefix length, as in 10.213.0.7/24. */
    record Address(long ip, int prefix) {
        static final Address DEFAULT_SUBNET = new Address(parseIp("10.213.0.0"), 24);

        static Address parse(String text) {
            String[] parts = text.split("/");
            try {
                if (parts.length != 2) throw new IllegalArgumentException();
                int prefix = Integer.parseInt(parts[1]);
                if (prefix < 8 || prefix > 30) throw new IllegalArgumentException();
                Address address = new Address(parseIp(parts[0]), prefix);
                if (address.ip() == address.network() || address.ip() == address.broadcast()) throw new IllegalArgumentException();
                return address;
            } catch (IllegalArgumentException e) {
                throw new StageFailure("--ip " + text + ": expected a host address and a prefix length from 8 to 30, e.g. 10.213.0.10/24");
            }
        }

        static long parseIp(String dotted) {
            String[] bytes = dotted.split("\\.");
            if (bytes.length != 4) throw new IllegalArgumentException();
            long ip = 0;
            for (String b : bytes) {
                int value = Integer.parseInt(b);
                if (value < 0 || value > 255) throw new IllegalArgumentException();
                ip = ip << 8 | value;
            }
            return ip;
        }

        long network() { return ip & -(1L << (32 - prefix)) & 0xffffffffL; }
        long broadcast() { return network() | ((1L << (32 - prefix)) - 1); }
        Address gateway() { return new Address(network() + 1, prefix); }
        Address withIp(long other) { return new Address(other, prefix); }
        boolean inSubnetOf(Address other) { return prefix == other.prefix && network() == other.network(); }
        String host() { return (ip >> 24 & 255) + "." + (ip >> 16 & 255) + "." + (ip >> 8 & 255) + "." + (ip & 255); }
        String subnet() { return withIp(network()).host() + "/" + prefix; }
        @Override public String toString() { return host() + "/" + prefix; }
    }
    // end::address[]

    static final String BRIDGE = "wb0";

    // tag::network[]
    /**
     * The host's side: one bridge for all containers with the gateway address on it, IPv4
     * forwarding, and a MASQUERADE rule. The first container to arrive sets them up and writes
     * down how the host was; the last to leave puts it back. What it writes down is kept per
     * network namespace, so the tests can play "the host" in a namespace of their own.
     */
    static final class Network {
        final Path state, members;
        final String firewall;
        Address address;
        String vethName;

        Network(String netns, String firewall) {
            this.state = RECORDS.resolve(NAME + "." + netns + ".host");
            this.members = RECORDS.resolve(NAME + "." + netns + ".members");
            this.firewall = firewall;
        }

        static Network find() {
            if (!commandExists("ip", "-V")) throw new StageFailure("no ip command: install iproute2 (sudo apt-get install iproute2)");
            String firewall = commandExists("iptables", "--version") ? "iptables" : commandExists("nft", "--version") ? "nft" : null;
            if (firewall == null) throw new StageFailure("neither iptables nor nft is installed: sudo apt-get install iptables");
            String netns = namespaceOf("self", "net");
            return new Network("net" + netns, firewall);
        }

        /** Picks (or checks) the container's address and, for the first container, sets up the host. */
        Address join(Address requested) throws IOException {
            Files.createDirectories(RECORDS);
            try (Lock held = Lock.take()) {
                Properties host = load(state);
                Map<Long, String> live = liveMembers();
                Address subnet = host.isEmpty() ? (requested != null ? requested : Address.DEFAULT_SUBNET)
                        : Address.parse(host.getProperty("gateway"));
                if (requested != null && !requested.inSubnetOf(subnet))
                    throw new StageFailure("--ip " + requested + " is outside the bridge's subnet " + subnet.subnet() + " (other containers use it)");
                address = requested != null ? requested : firstFree(subnet, live.values());
                if (requested != null && (live.containsValue(requested.host()) || requested.ip() == subnet.network() + 1))
                    throw new StageFailure("--ip " + requested + ": that address is already in use on " + BRIDGE);
                if (host.isEmpty()) setUpHost(address.gateway());
                live.put(ProcessHandle.current().pid(), address.host());
                saveMembers(live);
            }
            return address;
        }

        Address firstFree(Address subnet, Collection<String> used) {
            for (long candidate = subnet.network() + 2; candidate < subnet.broadcast(); candidate++)
                if (!used.contains(subnet.withIp(candidate).host())) return subnet.withIp(candidate);
            throw new StageFailure("no free address left in " + subnet.subnet());
        }

        /** The bridge with the gateway address, forwarding on, and NAT for the subnet. */
        void setUpHost(Address gateway) throws IOException {
            if (linkExists(BRIDGE))
                throw new StageFailure("a bridge " + BRIDGE + " exists that no container of this stage uses: remove it (sudo ip link del "
                        + BRIDGE + ") or run sudo scripts/reset");
            Properties host = new Properties();
            host.setProperty("gateway", gateway.toString());
            host.setProperty("firewall", firewall);
            host.setProperty("forwardingWas", read(IP_FORWARD).trim());
            store(state, host); // written first: whatever follows, a crash is undone by the next run
            sh("ip", "link", "add", BRIDGE, "type", "bridge");
            sh("ip", "addr", "add", gateway.toString(), "dev", BRIDGE);
            sh("ip", "link", "set", BRIDGE, "up");
            if (!host.getProperty("forwardingWas").equals("1")) write(IP_FORWARD, "1");
            addMasquerade(gateway.subnet());
        }

        // tag::nat[]
        /** Packets from the subnet that leave by another interface than the bridge get the host's address. */
        void addMasquerade(String subnet) {
            if (firewall.equals("iptables"))
                sh("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE");
            else {
                sh("nft", "add", "table", "ip", "workbook");
                sh("nft", "add", "chain", "ip", "workbook", "postrouting", "{ type nat hook postrouting priority srcnat; }");
                sh("nft", "add", "rule", "ip", "workbook", "postrouting", "ip", "saddr", subnet, "oifname", "!=", BRIDGE, "masquerade");
            }
        }
        // end::nat[]

        /** Puts the host back as the first container found it. */
        void tearDownHost() throws IOException {
            Properties host = load(state);
            if (host.isEmpty()) return;
            String subnet = Address.parse(host.getProperty("gateway")).subnet();
            if (host.getProperty("firewall").equals("iptables"))
                shIfPresent(List.of("iptables", "-t", "nat", "-C", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE"),
                        "iptables", "-t", "nat", "-D", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE");
            else shIfPresent(List.of("nft", "list", "table", "ip", "workbook"), "nft", "delete", "table", "ip", "workbook");
            if (!read(IP_FORWARD).trim().equals(host.getProperty("forwardingWas"))) write(IP_FORWARD, host.getProperty("forwardingWas"));
            if (linkExists(BRIDGE)) sh("ip", "link", "del", BRIDGE);
            Files.deleteIfExists(state);
        }

        // tag::connect[]
        /**
         * The pair is made on the host, one end moved into the container's network namespace
         * and renamed eth0 there, the other put on the bridge. What happens inside the
         * container's namespace is done with nsenter, as you would by hand.
         */
        void connect(int pid, Address address) {
            vethName = "wb-" + pid;
            String inside = "wbc-" + pid, netns = "--net=/proc/" + pid + "/ns/net";
            sh("ip", "link", "add", vethName, "type", "veth", "peer", "name", inside);
            sh("ip", "link", "set", inside, "netns", Integer.toString(pid));
            sh("nsenter", netns, "ip", "link", "set", inside, "name", "eth0");
            sh("nsenter", netns, "ip", "addr", "add", address.toString(), "dev", "eth0");
            sh("nsenter", netns, "ip", "link", "set", "eth0", "up");
            sh("nsenter", netns, "ip", "route", "add", "default", "via", address.gateway().host());
            sh("ip", "link", "set", vethName, "master", BRIDGE);
            sh("ip", "link", "set", vethName, "up");
            printTopology(netns, address);
        }
        // end::connect[]

        /** eth0@ifN inside names its peer's ifindex on the host, as the articles show with ip link. */
        void printTopology(String netns, Address address) {
            String eth0 = shQuiet("nsenter", netns, "ip", "-o", "link", "show", "eth0").split(":")[1].trim(); // "eth0@if27"
            String hostIndex = shQuiet("ip", "-o", "link", "show", vethName).split(":")[0].trim();
            narrate("topology: container " + eth0 + " " + address + "  <==veth==>  " + vethName + " (ifindex " + hostIndex + ") on "
                    + BRIDGE + " " + address.gateway() + "  ==>  forwarding, " + firewall + " MASQUERADE  ==>  the host's routes");
        }

        /**
         * The pair goes with the container's namespace (deleting either end deletes both), so
         * its host end may be gone already. The last container out puts the host back. Never
         * throws: the rest of the clean-up must run whatever happens here.
         */
        void leave() {
            try {
                if (vethName != null && linkExists(vethName)) commandExists("ip", "link", "del", vethName);
                try (Lock held = Lock.take()) {
                    Map<Long, String> live = liveMembers();
                    live.remove(ProcessHandle.current().pid());
                    saveMembers(live);
                    if (live.isEmpty()) tearDownHost();
                }
            } catch (IOException | RuntimeException e) {
                System.err.println(NAME + ": could not put the host's network back: " + e.getMessage() + " (the next run will try again)");
            }
        }

        /** Containers of this stage in this network namespace whose parent still runs: PID -> address. */
        Map<Long, String> liveMembers() throws IOException {
            Map<Long, String> live = new TreeMap<>();
            load(members).forEach((pid, address) -> {
                if (ProcessHandle.of(Long.parseLong((String) pid)).isPresent()) live.put(Long.parseLong((String) pid), (String) address);
            });
            return live;
        }

        void saveMembers(Map<Long, String> live) throws IOException {
            if (live.isEmpty()) {
                Files.deleteIfExists(members);
                return;
            }
            Properties p = new Properties();
            live.forEach((pid, address) -> p.setProperty(pid.toString(), address));
            store(members, p);
        }

        /** At start: if the containers of crashed runs were the only ones, the host goes back first. */
        void undoCrashedRuns() throws IOException {
            try (Lock held = Lock.take()) {
                if (liveMembers().isEmpty() && Files.exists(state)) {
                    narrate("undoing what crashed runs left on the host's network");
                    tearDownHost();
                    Files.deleteIfExists(members);
                }
            }
        }
    }
    // end::network[]

    static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");

    /**
     * Held while a container arrives or leaves, so that two of them never both think they are
     * the first or the last. The lock file stays in /run/lock, as lock files there do.
     */
    record Lock(java.nio.channels.FileChannel channel) implements AutoCloseable {
        static final Path FILE = Path.of("/run/lock/workbook-05-veth-bridge.lock");

        static Lock take() throws IOException {
            var channel = java.nio.channels.FileChannel.open(FILE, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            channel.lock();
            return new Lock(channel);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    static Properties load(Path file) throws IOException {
        Properties p = new Properties();
        if (Files.exists(file)) try (var in = Files.newInputStream(file)) { p.load(in); }
        return p;
    }

    static void store(Path file, Properties p) throws IOException {
        try (var out = Files.newOutputStream(file)) { p.store(out, null); }
    }

    /** Asks ip, not /sys/class/net: sysfs shows the network namespace it was mounted in, not ours. */
    static boolean linkExists(String name) {
        return commandExists("ip", "link", "show", name);
    }

    /** Runs a host command (ip, iptables, nft, nsenter), narrated as typed, so you can replay it by hand. */
    static String sh(String... command) {
        narrate(String.join(" ", command));
        return shQuiet(command);
    }

    static String shQuiet(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) throw new StageFailure(String.join(" ", command) + " failed: " + out.strip());
            return out;
        } catch (IOException e) {
            throw new StageFailure("cannot run " + command[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StageFailure("interrupted");
        }
    }

    /** Runs the command only if the check command succeeds (the thing is there to remove). */
    static void shIfPresent(List<String> check, String... command) {
        if (commandExists(check.toArray(String[]::new))) sh(command);
    }

    static boolean commandExists(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ---------------------------------------------------------------- parent: start the container

    /** The container's init, as the parent sees it: it says when it is up, then waits until released. */
    static final class Container {
        final int pid;
        final int startPipe;
        final int readyPipe;
        final CompletableFuture<Integer> exit;

        Container(int pid, int startPipe, int readyPipe, CompletableFuture<Integer> exit) {
            this.pid = pid;
            this.startPipe = startPipe;
            this.readyPipe = readyPipe;
            this.exit = exit;
        }

        /** Init writes one byte when its JVM has started; end-of-file means it died first. */
        void awaitReady() {
            int n = LIBC.read(readyPipe, new byte[1], 1);
            LIBC.close(readyPipe);
            narrate("read(" + readyPipe + ", ..., 1) = " + n + (n == 1 ? ": init is up" : ": init ended"));
            if (n != 1) throw new StageFailure("the container's init ended before it was ready (see its message above)");
        }

        /** One byte down the pipe tells init that the host side is ready. */
        void release() {
            check("write(" + startPipe + ", \"go\", 1)", () -> LIBC.write(startPipe, new byte[]{'g'}, 1), "");
            LIBC.close(startPipe);
        }

        int awaitExit() throws InterruptedException {
            try {
                return exit.get();
            } catch (ExecutionException e) {
                throw (RuntimeException) e.getCause();
            }
        }
    }

    // tag::start-init[]
    /**
     * Since the JVM cannot, util-linux's unshare, a single-threaded C program, creates the
     * namespaces, the user namespace first so that it owns the others. It then becomes a small
     * shell, whose first child, the init JVM, is PID 1 of the new PID namespace; the shell
     * waits for it and exits with its status (128 + N if signal N ended it). --keep-caps hands
     * on the capabilities the new user namespace gave unshare: without it they would be lost
     * at the next exec, since no map names init's uid yet. setpriv gives the shell the
     * parent-death signal (init arms its own), so that the container still ends with the
     * parent. The thread that spawned it stays, waiting: the signal comes when *it* ends.
     */
    Container startInit() throws InterruptedException {
        int[] pipe = new int[2], ready = new int[2];
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(pipe, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(ready, O_CLOEXEC), "");
        CompletableFuture<Integer> pid = new CompletableFuture<>();
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread namespaces = new Thread(() -> {
            try {
                int shell = spawn(unshareCommand(), initPipes(pipe[0], ready[1]));
                pid.complete(shell);
                exit.complete(waitForExit(shell));
            } catch (RuntimeException e) {
                pid.completeExceptionally(e);
                exit.completeExceptionally(e);
            }
        }, "namespaces");
        namespaces.start();
        try {
            int shell = pid.get();
            int child = childOf(shell, exit);
            narrate("init is PID " + child + " on the host, PID 1 inside; its parent is the shell unshare became, PID " + shell);
            return new Container(child, pipe[1], ready[0], exit);
        } catch (ExecutionException e) {
            LIBC.close(pipe[1]);
            LIBC.close(ready[0]);
            throw (RuntimeException) e.getCause();
        } finally {
            LIBC.close(pipe[0]);
            LIBC.close(ready[1]);
        }
    }
    // end::start-init[]

    static final List<String> UNSHARE = List.of("setpriv", "--pdeathsig", "KILL", "--",
            "unshare", "--user", "--uts", "--ipc", "--mount", "--net", "--pid", "--keep-caps",
            "--propagation", "unchanged", "--", // init makes the mounts private itself
            "/bin/sh", "-c", "\"$@\"; exit $?", "init"); // not the last command, so run as a child, not exec'd

    static List<String> unshareCommand() {
        List<String> command = new ArrayList<>(UNSHARE);
        command.addAll(initCommand());
        return command;
    }

    /** The shell's child: init. (If the shell ends first, unshare has said why.) */
    static int childOf(int shell, CompletableFuture<Integer> exit) {
        Path children = Path.of("/proc/" + shell + "/task/" + shell + "/children");
        while (!exit.isDone()) {
            String text = Files.exists(children) ? read(children).trim() : "";
            if (!text.isEmpty()) return Integer.parseInt(text.split(" ")[0]);
            sleep(5);
        }
        throw new StageFailure("unshare could not create the namespaces (its message is above)");
    }

    /** The same stage, run again by the same java, as init. */
    static List<String> initCommand() {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", // init lives a second: start fast
                "-Djnr.ffi.asm.enabled=false",                 // as the parent does (see the top of the file)
                "-XX:-UseDynamicNumberOfCompilerThreads",      // and start every thread up front
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "--init"));
        cmd.addAll(List.of(commandLine));
        return cmd;
    }

    /** posix_spawn file actions that give init the start pipe's read end as fd 3, the ready pipe's write end as fd 4. */
    static Pointer initPipes(int startReadEnd, int readyWriteEnd) {
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128); // sizeof(posix_spawn_file_actions_t) is 80
        LIBC.posix_spawn_file_actions_init(actions);
        // dup2 clears O_CLOEXEC on the copy: fds 3 and 4 alone survive into init.
        LIBC.posix_spawn_file_actions_adddup2(actions, startReadEnd, INIT_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, readyWriteEnd, READY_PIPE_FD);
        return actions;
    }

    static int spawn(List<String> argv, Pointer fileActions) {
        IntByReference pid = new IntByReference();
        narrate("posix_spawnp(\"" + argv.get(0) + "\", [" + String.join(" ", UNSHARE.stream().map(Main::quoted).toList()) + " java ... Main --init ...])");
        // posix_spawnp searches PATH, as a shell does; it returns the error number instead of setting errno.
        int error = LIBC.posix_spawnp(pid, argv.get(0), fileActions, null, nullTerminated(argv), nullTerminated(hostEnvironment()));
        if (error != 0)
            throw new StageFailure("posix_spawnp(\"" + argv.get(0) + "\") failed: " + describe(error) + " (setpriv and unshare come with util-linux)");
        return pid.getValue();
    }

    /** A word as you would type it in a shell. */
    static String quoted(String word) {
        return word.matches("[\\w./=:-]+") ? word : "'" + word + "'";
    }

    static List<String> hostEnvironment() {
        return System.getenv().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
    }

    // tag::namespaces-table[]
    /** Each namespace is a kernel object with an inode number; /proc/PID/ns/ shows which one a process is in. */
    static void printNamespaces(int pid) {
        narrate(String.format("%-18s %-12s %s", "namespace", "host", "container"));
        for (String kind : namespaceKinds()) {
            String host = namespaceOf("self", kind), inside = namespaceOf(Integer.toString(pid), kind);
            narrate(String.format("%-18s %-12s %s", kind, host, inside + (host.equals(inside) ? "" : "   new")));
        }
    }

    static String namespaceOf(String pid, String kind) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc", pid, "ns", kind)).toString(); // "uts:[4026531838]"
            return link.substring(link.indexOf('[') + 1, link.length() - 1);
        } catch (IOException e) {
            return "?";
        }
    }
    // end::namespaces-table[]

    static List<String> namespaceKinds() {
        try (Stream<Path> entries = Files.list(Path.of("/proc/self/ns"))) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---------------------------------------------------------------- parent: wait and pass on signals

    /** The stage's exit status is the container's: its exit code, or 128 + the signal that killed it. */
    static int waitForExit(int pid) {
        IntByReference status = new IntByReference();
        while (LIBC.waitpid(pid, status, 0) < 0) {
            if (Runtime.getRuntime(LIBC).getLastError() != Errno.EINTR.intValue())
                throw new StageFailure("waitpid(" + pid + ") failed");
        }
        int s = status.getValue();
        int signal = s & 0x7f;
        int code = signal == 0 ? (s >> 8) & 0xff : 128 + signal;
        narrate("waitpid(" + pid + ") = " + pid + ", " + (signal == 0 ? "exit status " + code : "killed by signal " + signal));
        return code;
    }

    // tag::signals[]
    /**
     * Ctrl-C or a kill aimed at the stage is passed on to the container's PID 1. But PID 1 of a
     * namespace gets only the signals it has a handler for (sleep has none), except SIGKILL
     * from outside. So if the container is still there after a grace period, SIGKILL ends it,
     * and with PID 1 the kernel ends every process in its namespace.
     */
    static void forwardSignals(int pid) {
        for (String name : List.of("INT", "TERM", "HUP")) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), s -> {
                LIBC.kill(pid, s.getNumber());
                Thread killer = new Thread(() -> {
                    sleep(GRACE_MILLIS);
                    if (LIBC.kill(pid, 0) == 0) check("kill(" + pid + ", SIGKILL)", () -> LIBC.kill(pid, SIGKILL), "");
                });
                killer.setDaemon(true);
                killer.start();
            });
        }
    }
    // end::signals[]

    static final long GRACE_MILLIS = 2000;

    // ---------------------------------------------------------------- init: inside the namespaces

    // tag::init[]
    /** Runs as PID 1 in the new namespaces; ends by becoming the command. */
    int runInit() {
        // If the parent dies, so does the container (kept across execve).
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        waitForParent();
        switchUser(0, 0);
        check("sethostname(\"" + hostname + "\", " + hostname.length() + ")", () -> LIBC.sethostname(hostname, hostname.length()), "");
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

    // tag::switch-user[]
    /**
     * Writing the maps does not change who init is: the kernel still knows it by its uid on the
     * host, which the map may not even name (root's, under --uid-map 0:100000:65536). So init
     * asks to be uid 0 and gid 0 of its namespace, that is 100000 outside; with the default map
     * it already is. Groups go first: after setresuid to a user other than root it could not
     * change them. setgroups(2) is allowed only where the parent did not deny it. A change of
     * uid also disarms the parent-death signal (prctl(2)), so it is armed again. And the
     * capabilities unshare --keep-caps put in the ambient set, to carry them through init's
     * exec, are dropped: root of the namespace has them all anyway, and the command's own
     * children should not inherit them.
     */
    static void switchUser(long uid, long gid) {
        check("setresgid(" + gid + ", " + gid + ", " + gid + ")", () -> LIBC.setresgid(gid, gid, gid), "");
        if (read(Path.of("/proc/self/setgroups")).trim().equals("allow"))
            check("setgroups(0, NULL)", () -> LIBC.setgroups(0, null), "");
        check("setresuid(" + uid + ", " + uid + ", " + uid + ")", () -> LIBC.setresuid(uid, uid, uid), "");
        check("prctl(PR_SET_PDEATHSIG, SIGKILL)", () -> LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "");
        check("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", () -> LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "");
    }
    // end::switch-user[]

    // tag::loopback[]
    /**
     * The new network namespace has only lo, and it is down. A rootless parent cannot bring it
     * up: it has no capability over this namespace's network from outside. Init, root in here,
     * can: with the ioctl(2) that `ip link set lo up` makes, on a struct ifreq (a 16-byte name,
     * then the flags).
     */
    static void bringLoopbackUp() {
        int socket = check("socket(AF_INET, SOCK_DGRAM, 0)", () -> LIBC.socket(AF_INET, SOCK_DGRAM, 0), "");
        byte[] ifreq = new byte[40];
        System.arraycopy("lo".getBytes(), 0, ifreq, 0, 2);
        check("ioctl(" + socket + ", SIOCGIFFLAGS, {\"lo\"})", () -> LIBC.ioctl(socket, SIOCGIFFLAGS, ifreq), "");
        ifreq[16] |= IFF_UP; // the low byte of the short ifr_flags, on a little-endian machine
        check("ioctl(" + socket + ", SIOCSIFFLAGS, {\"lo\", IFF_UP})", () -> LIBC.ioctl(socket, SIOCSIFFLAGS, ifreq), "");
        LIBC.close(socket);
    }
    // end::loopback[]

    // tag::mount-proc[]
    /**
     * A proc filesystem shows the PID namespace of the process that mounts it: ours. In a user
     * namespace the kernel allows a new proc only where a proc the namespace can already see
     * entirely is mounted too (else the new one could uncover what the host hid by mounting
     * over parts of it). So proc goes up inside the new root *before* pivot_root, while the
     * host's /proc is still in sight; after the switch it would be EPERM.
     */
    static void mountProc(Path root) {
        String target = root + "/proc";
        check("mount(\"proc\", \"" + target + "\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                () -> LIBC.mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null), "");
    }
    // end::mount-proc[]

    // tag::private[]
    /**
     * This namespace starts with a copy of the host's mounts, *and* their propagation: on a
     * systemd host / is "shared", so a mount made here would appear on the host as well.
     * MS_REC|MS_PRIVATE cuts every mount of this namespace off from its peers on the host.
     */
    static void makeMountsPrivate() {
        check("mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)", () -> LIBC.mount(null, "/", null, MS_REC | MS_PRIVATE, null), "");
    }
    // end::private[]

    /** pivot_root(2) wants the new root to be a mount point; a bind mount onto itself makes it one. */
    static void bindRootfsOntoItself(Path root) {
        check("mount(\"" + root + "\", \"" + root + "\", NULL, MS_BIND|MS_REC, NULL)",
                () -> LIBC.mount(root.toString(), root.toString(), null, MS_BIND | MS_REC, null), reachable(root));
    }

    /** What to do on EACCES: init works as the uid that root inside maps to, not as the host's root. */
    static String reachable(Path dir) {
        return "root inside is uid " + read(Path.of("/proc/self/uid_map")).trim().split("\\s+")[1] + " on the host, and every"
                + " directory on the way to " + dir + " must let it through (chmod o+x), as it must for an ordinary user";
    }

    // tag::mount-volume[]
    /**
     * A bind mount makes a directory appear at a second place: the same files, not a copy, so
     * writes on either side are seen on the other. It is done before pivot_root, while the
     * host's directory can still be named. A read-only bind mount takes a second step: the
     * kernel ignores MS_RDONLY on the first MS_BIND call, and applies it on a remount.
     */
    static void mountVolume(Path root, Volume volume) {
        String target = root + volume.inside().toString();
        check("mount(\"" + volume.host() + "\", \"" + target + "\", NULL, MS_BIND|MS_REC, NULL)",
                () -> LIBC.mount(volume.host().toString(), target, null, MS_BIND | MS_REC, null), reachable(volume.host()));
        if (volume.readOnly())
            check("mount(NULL, \"" + target + "\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)",
                    () -> LIBC.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null), "");
    }
    // end::mount-volume[]

    // tag::pivot-root[]
    /**
     * pivot_root(new_root, put_old) makes new_root the root mount of this mount namespace and
     * moves the old root to put_old. Passing "." for both stacks the old root on top of the new
     * one; unmounting it (MNT_DETACH: lazily, as processes may still hold it) leaves no path at
     * all to the host's files. chroot only changed where "/" starts; this changes what exists.
     */
    static void switchRoot(Path root) {
        check("chdir(\"" + root + "\")", () -> LIBC.chdir(root.toString()), "");
        check("pivot_root(\".\", \".\")", () -> LIBC.pivot_root(".", "."), PIVOT_ROOT_HINT);
        check("umount2(\".\", MNT_DETACH)", () -> LIBC.umount2(".", MNT_DETACH), "");
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
    }
    // end::pivot-root[]

    static final String PIVOT_ROOT_HINT = "pivot_root needs the new root to be a mount point that is not shared with the host "
            + "(EINVAL) and not the current root (EBUSY): see chapter 3";

    // tag::escape[]
    /** Stage 01's escape, tried again. ".." at the top of a mount namespace leads nowhere. */
    static void tryToBreakOut() {
        try {
            Files.deleteIfExists(Path.of("breakout")); // left by a run that was killed mid-escape
        } catch (IOException ignored) {
            // mkdir will say what is wrong
        }
        check("mkdir(\"breakout\", 0755)", () -> LIBC.mkdir("breakout", 0755), "");
        check("chroot(\"breakout\")", () -> LIBC.chroot("breakout"), "");
        int depth = 64;
        for (int i = 0; i < depth; i++) LIBC.chdir("..");
        narrate("chdir(\"..\") x " + depth + " = 0");
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        narrate(rootIdentity().equals(HOST_ROOT) ? "escaped: \"/\" is the host's root directory again"
                : "still inside: \"/\" is the container's root, the host's is unreachable");
    }
    // end::escape[]

    /** The host's "/" as device and inode, read when init starts, before any mount. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    static Map<String, Object> rootIdentity() {
        try {
            return Files.readAttributes(Path.of("/"), "unix:dev,ino");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Says "up" on fd 4, then blocks on fd 3 until the parent writes; end-of-file means the parent is gone. */
    static void waitForParent() {
        // jnr-ffi starts a helper thread on its first native allocation (execve's argv makes
        // one). Start it now: once init is in the cgroup, --pids-limit may forbid new threads,
        // and after pivot_root the JDK's own files (which an error report would read) are gone.
        Memory.allocateDirect(Runtime.getRuntime(LIBC), 16);
        check("write(" + READY_PIPE_FD + ", \"up\", 1)", () -> LIBC.write(READY_PIPE_FD, new byte[]{'u'}, 1), "");
        LIBC.close(READY_PIPE_FD);
        byte[] go = new byte[1];
        int n = LIBC.read(INIT_PIPE_FD, go, 1);
        if (n != 1) System.exit(STAGE_FAILED); // the parent failed and has said why
        narrate("read(" + INIT_PIPE_FD + ", ..., 1) = " + n + ": the parent is ready");
        held.forEach(NARRATION::println);
        held = null;
        LIBC.close(INIT_PIPE_FD);
    }

    /** execve(2) replaces the init JVM with the command, which keeps PID 1. Returns only on failure. */
    static int execute(List<String> argv, List<String> env) {
        String program = resolveInside(argv.get(0));
        narrate("execve(\"" + program + "\", " + argv + ")");
        LIBC.execve(program, nullTerminated(argv), nullTerminated(env));
        int errno = Runtime.getRuntime(LIBC).getLastError();
        throw new StageFailure("execve(\"" + program + "\") failed: " + describe(errno));
    }

    /** PATH search, done here so that it happens inside the new root. */
    static String resolveInside(String name) {
        if (name.contains("/")) {
            if (!Files.exists(Path.of(name))) throw new StageFailure("no such command in the container: " + name);
            return name;
        }
        return INSIDE_PATH.stream().map(d -> d + "/" + name).filter(p -> Files.isExecutable(Path.of(p)))
                .findFirst().orElseThrow(() -> new StageFailure("no such command in the container: " + name));
    }

    static List<String> containerEnvironment(String hostname) {
        List<String> env = new ArrayList<>(List.of("PATH=" + String.join(":", INSIDE_PATH), "HOME=/root", "PS1=[06-user-ns] \\h:\\w # "));
        if (hostname != null) env.add("HOSTNAME=" + hostname);
        String term = System.getenv("TERM");
        if (term != null) env.add("TERM=" + term);
        return env;
    }

    // ---------------------------------------------------------------- exec: join a running container

    @Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Runs a command inside a running container, like `docker exec` or `nsenter`.",
                "PID is the container's init as the host sees it (the stage prints it)."})
    static class Exec implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "PID", description = "Host PID of a process in the container.")
        int pid;

        @Parameters(index = "1..*", paramLabel = "COMMAND", description = "Command and arguments (default: /bin/sh).")
        List<String> command = new ArrayList<>();

        @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
        boolean quiet;

        @Override
        public Integer call() throws Exception {
            narrating = !quiet;
            requireContainer(pid);
            return enter(pid, command.isEmpty() ? List.of("/bin/sh") : command);
        }
    }

    static void requireContainer(int pid) {
        if (!Files.isDirectory(Path.of("/proc/" + pid)))
            throw new StageFailure("no process " + pid + " on this host");
        if (namespaceOf(Integer.toString(pid), "user").equals(namespaceOf("self", "user")))
            throw new StageFailure("process " + pid + " is not in a container of this stage: its user namespace is the host's");
    }

    // tag::setns[]
    /**
     * setns(2) into a user namespace is refused to a multi-threaded process, like unshare(2).
     * So exec leaves it to nsenter, single-threaded: it joins the user namespace first (as its
     * owner's uid, that gives it every capability there), then the others, takes the
     * container's root and working directory from /proc/PID, becomes uid 0 inside, and runs
     * the command in a child, since joining a PID namespace places only children in it. An
     * ordinary user's uid already is 0 inside, and the setgroups(2) that nsenter would make on
     * the way is denied there: --preserve-credentials keeps them as they are.
     */
    static int enter(int pid, List<String> argv) throws IOException, InterruptedException {
        List<String> nsenter = new ArrayList<>(List.of("nsenter", "--target", Integer.toString(pid),
                "--user", "--uts", "--ipc", "--net", "--pid", "--mount", "--root", "--wd"));
        if (LIBC.geteuid() != 0) nsenter.add("--preserve-credentials");
        nsenter.add("--");
        nsenter.addAll(argv);
        narrate(String.join(" ", nsenter));
        ProcessBuilder builder = new ProcessBuilder(nsenter).inheritIO();
        Map<String, String> environment = builder.environment();
        environment.clear();
        containerEnvironment(null).forEach(v -> environment.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1)));
        Process process = builder.start();
        forwardSignals((int) process.pid());
        return process.waitFor();
    }
    // end::setns[]

    // ---------------------------------------------------------------- narration and errors

    static boolean narrating = true;
    static String side = "parent";

    static List<String> held;

    /** UTF-8 whatever the locale says, for the meter's bar. */
    static final java.io.PrintStream NARRATION = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true, java.nio.charset.StandardCharsets.UTF_8);

    static void narrate(String line) {
        if (!narrating) return;
        if (held != null) held.add("[" + side + "] " + line);
        else NARRATION.println("[" + side + "] " + line);
    }

    /** Makes a system call, narrates it strace-style, and stops the stage if it failed. */
    static int check(String call, IntSupplier syscall, String whatToDo) {
        int result = syscall.getAsInt();
        int errno = result < 0 ? Runtime.getRuntime(LIBC).getLastError() : 0;
        narrate(call + " = " + (result < 0 ? "-1 " + describe(errno) : result));
        if (result < 0)
            throw new StageFailure(call + " failed: " + describe(errno) + (whatToDo.isEmpty() ? "" : ". " + whatToDo));
        return result;
    }

    static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        return (e == null || e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name()) + " (" + LIBC.strerror(errno) + ")";
    }

    static int fail(String message) {
        System.err.println(NAME + ": " + message);
        return STAGE_FAILED;
    }

    static class StageFailure extends RuntimeException {
        StageFailure(String message) { super(message); }
    }

    // ---------------------------------------------------------------- small helpers

    static String[] nullTerminated(List<String> strings) {
        String[] array = strings.toArray(new String[strings.size() + 1]);
        array[strings.size()] = null; // C's argv and envp end with a NULL pointer
        return array;
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- libc

    // tag::libc[]
    /** The libc functions this stage calls, bound by name through jnr-ffi. */
    public interface LibC {
        int geteuid();
        int getegid();
        int unshare(int flags);
        int setresuid(@uid_t long real, @uid_t long effective, @uid_t long saved);
        int setresgid(@gid_t long real, @gid_t long effective, @gid_t long saved);
        int setgroups(long size, @In int[] groups);
        int sethostname(String name, long length);
        int socket(int domain, int type, int protocol);
        int ioctl(int fd, long request, byte[] ifreq);
        int mount(String source, String target, String fstype, long flags, String data);
        int umount2(String target, int flags);
        int pivot_root(String newRoot, String putOld);
        int mkdir(String path, int mode);
        int chroot(String path);
        int chdir(String path);
        int close(int fd);
        int read(int fd, @Out byte[] buffer, long count);
        int write(int fd, @In byte[] buffer, long count);
        int pipe2(@Out int[] fds, int flags);
        int prctl(int option, long arg2, long arg3, long arg4, long arg5);
        int execve(String path, @In String[] argv, @In String[] envp);
        int posix_spawnp(@Out IntByReference pid, String file, Pointer fileActions, Pointer attributes,
                         @In String[] argv, @In String[] envp);
        int posix_spawn_file_actions_init(Pointer fileActions);
        int posix_spawn_file_actions_adddup2(Pointer fileActions, int fd, int newFd);
        int waitpid(int pid, @Out IntByReference status, int options);
        int kill(int pid, int signal);
        String strerror(int errno);
    }

    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");

    // <linux/sched.h>
    static final int CLONE_NEWUSER = 0x10000000;
    // <sys/mount.h>
    static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096,
            MS_REC = 16384, MS_PRIVATE = 1 << 18;
    static final int MNT_DETACH = 2;
    // <fcntl.h>, <sys/prctl.h>, <signal.h>
    static final int O_CLOEXEC = 02000000;
    static final int PR_SET_PDEATHSIG = 1, SIGKILL = 9, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_CLEAR_ALL = 4;
    // <sys/socket.h>, <linux/sockios.h>, <net/if.h>
    static final int AF_INET = 2, SOCK_DGRAM = 2, IFF_UP = 1;
    static final long SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    // end::libc[]
}

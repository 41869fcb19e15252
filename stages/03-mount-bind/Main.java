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

// Stage 03: the mount namespace in depth. pivot_root(2) replaces chroot, so the host's
// filesystem is gone from inside (the chroot escape finds nothing), and host directories
// are bind-mounted in as volumes.
//
//   sudo jbang stages/03-mount-bind/Main.java                       a shell in the container
//   sudo jbang stages/03-mount-bind/Main.java --volume /tmp/shared:/data -- /bin/ls /data
//   sudo jbang stages/03-mount-bind/Main.java --escape -- /bin/ls /  the escape stays inside
//   sudo jbang stages/03-mount-bind/Main.java exec PID -- /bin/ps   enter a running container

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
import picocli.CommandLine;
import picocli.CommandLine.*;

@Command(name = "03-mount-bind", mixinStandardHelpOptions = true, version = "workbook stage 03",
        sortOptions = false, usageHelpAutoWidth = true, subcommands = Main.Exec.class,
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

    static final int STAGE_FAILED = 125; // like `docker run`: the stage itself failed, not the command
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");
    static final int HOST_NAME_MAX = 64; // <limits.h>: sethostname(2) refuses longer names with EINVAL
    static final int INIT_PIPE_FD = 3;   // where init finds its end of the start pipe
    static String[] commandLine;         // as given: init gets the same, plus --init

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

    // ---------------------------------------------------------------- checks

    static void requireRoot() {
        // Creating namespaces other than a user namespace needs CAP_SYS_ADMIN.
        if (LIBC.geteuid() != 0)
            throw new StageFailure("creating namespaces needs root (CAP_SYS_ADMIN): run it with sudo");
    }

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
            Files.createDirectories(onHost);
            narrate("mkdir -p " + onHost + " (a mount point for the volume)");
        }
        return made;
    }

    static void removeFromHost(List<Path> made) {
        for (int i = made.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(made.get(i));
            } catch (IOException e) {
                System.err.println("03-mount-bind: could not remove " + made.get(i) + ": " + e.getMessage());
            }
        }
    }

    // tag::crash-record[]
    /**
     * A parent killed with SIGKILL cleans nothing up (its container dies with it). So it writes
     * down what it made on the host, in /run/workbook/STAGE.PID, and the next run of the stage
     * undoes what runs whose PID is gone left behind. (/run is emptied at every boot.)
     */
    static final Path RECORDS = Path.of("/run/workbook");

    static Path recordMadeOnHost(List<Path> made) throws IOException {
        Files.createDirectories(RECORDS);
        return Files.write(RECORDS.resolve("03-mount-bind." + ProcessHandle.current().pid()), made.stream().map(Path::toString).toList());
    }

    static void undoCrashedRuns() throws IOException {
        if (!Files.isDirectory(RECORDS)) return;
        try (Stream<Path> records = Files.list(RECORDS)) {
            for (Path record : records.filter(r -> r.getFileName().toString().matches("03-mount-bind\\.\\d+")).toList()) {
                long pid = Long.parseLong(record.getFileName().toString().substring("03-mount-bind.".length()));
                if (ProcessHandle.of(pid).isPresent()) continue; // a run still going
                List<Path> made = Files.readAllLines(record).stream().map(Path::of).toList();
                narrate("undoing a crashed run (pid " + pid + "): removing " + made);
                removeFromHost(made);
                Files.delete(record);
            }
        }
    }
    // end::crash-record[]

    // ---------------------------------------------------------------- parent: start the container

    /** The container's init, as the parent sees it: waiting on the start pipe until released. */
    static final class Container {
        final int pid;
        final int startPipe;
        final CompletableFuture<Integer> exit;

        Container(int pid, int startPipe, CompletableFuture<Integer> exit) {
            this.pid = pid;
            this.startPipe = startPipe;
            this.exit = exit;
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
     * The namespaces are made on a thread of our own, which then spawns the stage again as the
     * container's init. unshare(2) changes only the calling thread, so the JVM's other threads
     * stay on the host. The thread stays alive, waiting for init: the kernel sends init its
     * parent-death signal when the *thread* that spawned it ends, not the process.
     */
    Container startInit() throws InterruptedException {
        int[] pipe = new int[2];
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(pipe, O_CLOEXEC), "");
        CompletableFuture<Integer> pid = new CompletableFuture<>();
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread namespaces = new Thread(() -> {
            try {
                // Allocating native memory may start a jnr-ffi thread, which must happen before
                // unshare(CLONE_NEWPID): after it, this thread can't create threads (EINVAL).
                Pointer fileActions = initPipeAsFd3(pipe[0]);
                check("unshare(CLONE_NEWUTS|CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWNS)",
                        () -> LIBC.unshare(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS), "");
                int child = spawn(initCommand(), fileActions);
                pid.complete(child);
                exit.complete(waitForExit(child));
            } catch (RuntimeException e) {
                pid.completeExceptionally(e);
                exit.completeExceptionally(e);
            }
        }, "namespaces");
        namespaces.start();
        try {
            int child = pid.get();
            narrate("init is PID " + child + " on the host, PID 1 inside");
            return new Container(child, pipe[1], exit);
        } catch (ExecutionException e) {
            LIBC.close(pipe[1]);
            throw (RuntimeException) e.getCause();
        } finally {
            LIBC.close(pipe[0]);
        }
    }
    // end::start-init[]

    /** The same stage, run again by the same java, as init. */
    static List<String> initCommand() {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", // init lives a second: start fast
                "-Djnr.ffi.asm.enabled=false",                 // as the parent does (see the top of the file)
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "--init"));
        cmd.addAll(List.of(commandLine));
        return cmd;
    }

    /** posix_spawn file actions that give the child the pipe's read end as fd 3. */
    static Pointer initPipeAsFd3(int readEnd) {
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128); // sizeof(posix_spawn_file_actions_t) is 80
        LIBC.posix_spawn_file_actions_init(actions);
        // dup2 clears O_CLOEXEC on the copy: fd 3 alone survives into init.
        LIBC.posix_spawn_file_actions_adddup2(actions, readEnd, INIT_PIPE_FD);
        return actions;
    }

    static int spawn(List<String> argv, Pointer fileActions) {
        IntByReference pid = new IntByReference();
        narrate("posix_spawn(\"" + argv.get(0) + "\", [java ... Main --init ...])");
        // posix_spawn returns the error number instead of setting errno.
        int error = LIBC.posix_spawn(pid, argv.get(0), fileActions, null, nullTerminated(argv), nullTerminated(hostEnvironment()));
        if (error != 0)
            throw new StageFailure("posix_spawn(\"" + argv.get(0) + "\") failed: " + describe(error));
        return pid.getValue();
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
        check("sethostname(\"" + hostname + "\", " + hostname.length() + ")", () -> LIBC.sethostname(hostname, hostname.length()), "");
        makeMountsPrivate();
        Path root = checkRootfs(rootfs);
        bindRootfsOntoItself(root);
        for (Volume volume : Volume.parseAll(volumeSpecs)) mountVolume(root, volume);
        switchRoot(root);
        // A proc filesystem shows the PID namespace of the process that mounts it: ours.
        check("mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                () -> LIBC.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null), "");
        if (escape) tryToBreakOut();
        List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
        return execute(argv, containerEnvironment(hostname));
    }
    // end::init[]

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
                () -> LIBC.mount(root.toString(), root.toString(), null, MS_BIND | MS_REC, null), "");
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
                () -> LIBC.mount(volume.host().toString(), target, null, MS_BIND | MS_REC, null), "");
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

    /** Blocks on fd 3 until the parent writes; end-of-file means the parent is gone. */
    static void waitForParent() {
        byte[] go = new byte[1];
        int n = LIBC.read(INIT_PIPE_FD, go, 1);
        if (n != 1) System.exit(STAGE_FAILED); // the parent failed and has said why
        narrate("read(" + INIT_PIPE_FD + ", ..., 1) = " + n + ": the parent is ready");
        held.forEach(System.err::println);
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
        List<String> env = new ArrayList<>(List.of("PATH=" + String.join(":", INSIDE_PATH), "HOME=/root",
                "HOSTNAME=" + hostname, "PS1=[03-mount-bind] \\h:\\w # "));
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
            requireRoot();
            requireContainer(pid);
            List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
            CompletableFuture<Integer> child = new CompletableFuture<>();
            Thread joiner = new Thread(() -> {
                try {
                    child.complete(joinAndSpawn(pid, argv));
                } catch (RuntimeException e) {
                    child.completeExceptionally(e);
                }
            }, "setns");
            joiner.start();
            try {
                int spawned = child.get();
                forwardSignals(spawned);
                return waitForExit(spawned);
            } catch (ExecutionException e) {
                throw (RuntimeException) e.getCause();
            }
        }
    }

    static void requireContainer(int pid) {
        if (!Files.isDirectory(Path.of("/proc/" + pid)))
            throw new StageFailure("no process " + pid + " on this host");
        if (namespaceOf(Integer.toString(pid), "pid").equals(namespaceOf("self", "pid")))
            throw new StageFailure("process " + pid + " is not in a container: its PID namespace is the host's");
    }

    // tag::setns[]
    /**
     * setns(2) moves the calling thread into the namespace an open /proc/PID/ns file names.
     * Joining a PID namespace changes only where this thread's *children* go, never its own
     * PID. Joining a mount namespace is refused (EINVAL) while the thread shares its root and
     * working directory with the other threads, hence unshare(CLONE_FS) first. Then the root
     * directory is set from the container's own /proc/PID/root, as nsenter --root does.
     */
    static int joinAndSpawn(int pid, List<String> argv) {
        Memory.allocateDirect(Runtime.getRuntime(LIBC), 16); // starts jnr-ffi's thread now, before setns(pid)
        int root = open("/proc/" + pid + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        Map<String, Integer> files = new LinkedHashMap<>();
        for (String kind : List.of("ipc", "uts", "pid", "mnt")) files.put(kind, open("/proc/" + pid + "/ns/" + kind, O_RDONLY | O_CLOEXEC));
        check("unshare(CLONE_FS)", () -> LIBC.unshare(CLONE_FS), "");
        files.forEach((kind, fd) -> check("setns(" + fd + " /* " + kind + " */, 0)", () -> LIBC.setns(fd, 0), ""));
        check("fchdir(" + root + " /* the container's root */)", () -> LIBC.fchdir(root), "");
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
        files.values().forEach(LIBC::close);
        LIBC.close(root);
        String program = resolveInside(argv.get(0));
        IntByReference child = new IntByReference();
        narrate("posix_spawn(\"" + program + "\", " + argv + ")");
        int error = LIBC.posix_spawn(child, program, null, null, nullTerminated(argv), nullTerminated(containerEnvironment(namespaceHostname())));
        if (error != 0) throw new StageFailure("posix_spawn(\"" + program + "\") failed: " + describe(error));
        return child.getValue();
    }
    // end::setns[]

    static int open(String path, int flags) {
        return check("open(\"" + path + "\")", () -> LIBC.open(path, flags), "");
    }

    /** The hostname of the UTS namespace this thread is in now. */
    static String namespaceHostname() {
        byte[] name = new byte[HOST_NAME_MAX + 1];
        LIBC.gethostname(name, name.length);
        int end = 0;
        while (end < name.length && name[end] != 0) end++;
        return new String(name, 0, end);
    }

    // ---------------------------------------------------------------- narration and errors

    static boolean narrating = true;
    static String side = "parent";

    static List<String> held;

    static void narrate(String line) {
        if (!narrating) return;
        if (held != null) held.add("[" + side + "] " + line);
        else System.err.println("[" + side + "] " + line);
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
        System.err.println("03-mount-bind: " + message);
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
        int unshare(int flags);
        int setns(int fd, int nstype);
        int sethostname(String name, long length);
        int gethostname(@Out byte[] name, long length);
        int mount(String source, String target, String fstype, long flags, String data);
        int umount2(String target, int flags);
        int pivot_root(String newRoot, String putOld);
        int mkdir(String path, int mode);
        int chroot(String path);
        int chdir(String path);
        int fchdir(int fd);
        int open(String path, int flags);
        int close(int fd);
        int read(int fd, @Out byte[] buffer, long count);
        int write(int fd, @In byte[] buffer, long count);
        int pipe2(@Out int[] fds, int flags);
        int prctl(int option, long arg2, long arg3, long arg4, long arg5);
        int execve(String path, @In String[] argv, @In String[] envp);
        int posix_spawn(@Out IntByReference pid, String path, Pointer fileActions, Pointer attributes,
                        @In String[] argv, @In String[] envp);
        int posix_spawn_file_actions_init(Pointer fileActions);
        int posix_spawn_file_actions_adddup2(Pointer fileActions, int fd, int newFd);
        int waitpid(int pid, @Out IntByReference status, int options);
        int kill(int pid, int signal);
        String strerror(int errno);
    }

    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");

    // <linux/sched.h>
    static final int CLONE_FS = 0x00000200, CLONE_NEWNS = 0x00020000, CLONE_NEWUTS = 0x04000000,
            CLONE_NEWIPC = 0x08000000, CLONE_NEWPID = 0x20000000;
    // <sys/mount.h>
    static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096,
            MS_REC = 16384, MS_PRIVATE = 1 << 18;
    static final int MNT_DETACH = 2;
    // <fcntl.h>, <sys/prctl.h>, <signal.h>
    static final int O_RDONLY = 0, O_DIRECTORY = 0200000, O_CLOEXEC = 02000000;
    static final int PR_SET_PDEATHSIG = 1, SIGKILL = 9;
    // end::libc[]
}

///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Djnr.ffi.asm.enabled=false
// A stage lives a second or two, so the JVM starts light: only the quick JIT compiler, the
// simplest collector, no perf-data file; and jnr-ffi binds libc by reflection instead of
// generating bytecode for each function (slower calls, a much faster start: we make few calls).
// sun.misc.Signal forwards Ctrl-C to the command; this keeps javac quiet about it being JDK-internal.
//JAVAC_OPTIONS -XDignore.symbol.file
//DEPS info.picocli:picocli:4.7.7
//DEPS com.github.jnr:jnr-ffi:2.3.4
//DEPS com.github.jnr:jnr-constants:0.11.4

// Stage 01: a chroot jail, built by hand, and the way out of it.
//
//   sudo jbang stages/01-chroot/Main.java                    bash in a jail of bash + its libraries
//   sudo jbang stages/01-chroot/Main.java --copy ls -- /bin/ls /
//   sudo jbang stages/01-chroot/Main.java --rootfs -- /bin/ls /     the busybox root instead
//   sudo jbang stages/01-chroot/Main.java --escape -- /bin/cat /etc/hostname

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntSupplier;
import java.util.stream.*;

import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;
import picocli.CommandLine;
import picocli.CommandLine.*;

@Command(name = "01-chroot", mixinStandardHelpOptions = true, version = "workbook stage 01",
        sortOptions = false, usageHelpAutoWidth = true,
        description = {
            "Builds a jail by hand (a program plus the libraries ldd lists), chroot(2)s into it",
            "and runs a command there. With --escape, walks back out of the jail.",
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

    static final String NAME = "01-chroot";
    static final int STAGE_FAILED = 125; // like `docker run`: the stage itself failed, not the command
    static final Path DEFAULT_PROGRAM = Path.of("/bin/bash");
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, a) -> fail(e.getMessage() + " (see --help)"));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            if (e instanceof StageFailure) return fail(e.getMessage());
            throw e;
        });
        System.exit(cli.execute(args));
    }

    @Override
    public Integer call() throws Exception {
        narrating = !quiet;
        requireRoot();
        removeJailsOfDeadRuns();
        Path root = rootfs != null ? checkRootfs(rootfs) : createJail();
        try {
            if (rootfs == null) fillJail(root);
            List<String> argv = command.isEmpty() ? List.of(rootfs != null ? "/bin/sh" : "/bin/bash") : command;
            int pid = enterRootAndSpawn(root, argv);
            return waitForExit(pid);
        } finally {
            if (rootfs == null && keptJail == null) deleteTree(root);
            if (escape) deleteQuietly(root.resolve("breakout"));
        }
    }

    // ---------------------------------------------------------------- checks

    static void requireRoot() {
        // chroot(2) needs CAP_SYS_CHROOT; on an ordinary system only root has it.
        if (LIBC.geteuid() != 0)
            throw new StageFailure("chroot(2) needs root (CAP_SYS_CHROOT): run it with sudo");
    }

    static Path checkRootfs(Path dir) {
        if (!Files.isDirectory(dir))
            throw new StageFailure("rootfs not found: " + dir + " (run scripts/setup from the workbook root, or pass --rootfs DIR)");
        return dir.toAbsolutePath().normalize();
    }

    // ---------------------------------------------------------------- the jail

    // tag::build-jail[]
    /** A root filesystem by hand: each program in /bin, each library where ldd says it lives. */
    void fillJail(Path jail) throws IOException {
        List<Path> programs = new ArrayList<>(List.of(DEFAULT_PROGRAM));
        for (String name : extraPrograms) programs.add(findOnHost(name));
        for (Path program : programs) {
            copyInto(jail, program, Path.of("/bin").resolve(program.getFileName()));
            for (Path library : librariesOf(program)) copyInto(jail, library, library);
        }
        narrate("built the jail " + jail + ":");
        try (Stream<Path> files = Files.walk(jail)) {
            files.filter(Files::isRegularFile).sorted().forEach(f -> narrate("  " + jail.relativize(f)));
        }
    }

    /** The shared libraries the dynamic loader will open for a program, as ldd(1) reports them. */
    static List<Path> librariesOf(Path program) throws IOException {
        // A line looks like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file: the kernel maps it.
        // A static program makes ldd say "not a dynamic executable": nothing to copy.
        List<Path> libraries = new ArrayList<>();
        for (String line : run("ldd", program.toString())) {
            for (String word : line.trim().split("\\s+"))
                if (word.startsWith("/")) libraries.add(Path.of(word));
        }
        return libraries;
    }
    // end::build-jail[]

    Path createJail() throws IOException {
        if (keptJail == null) return Files.createDirectory(Path.of("/tmp/workbook-jail-" + ProcessHandle.current().pid()));
        if (Files.isDirectory(keptJail) && Files.list(keptJail).findAny().isPresent())
            throw new StageFailure("--jail " + keptJail + " is not empty: give a new directory");
        return Files.createDirectories(keptJail).toAbsolutePath().normalize();
    }

    static Path findOnHost(String name) {
        Path given = Path.of(name);
        if (name.contains("/")) {
            if (Files.isRegularFile(given) && Files.isExecutable(given)) return given;
            throw new StageFailure("no such program on this machine: " + name);
        }
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
        return Arrays.stream(path.split(":")).filter(d -> !d.isEmpty()).map(d -> Path.of(d, name))
                .filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst()
                .orElseThrow(() -> new StageFailure("no such program on this machine: " + name + " (not found in PATH)"));
    }

    static void copyInto(Path jail, Path source, Path whereInside) throws IOException {
        Path target = jail.resolve(whereInside.toString().substring(1));
        Files.createDirectories(target.getParent());
        // Follows symlinks: the jail gets the file's content, not a link pointing outside it.
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
    }

    /** A jail whose run was killed stays in /tmp; the next run removes it. */
    static void removeJailsOfDeadRuns() throws IOException {
        try (Stream<Path> entries = Files.list(Path.of("/tmp"))) {
            for (Path dir : entries.filter(p -> p.getFileName().toString().matches("workbook-jail-\\d+")).toList()) {
                long pid = Long.parseLong(dir.getFileName().toString().substring("workbook-jail-".length()));
                if (ProcessHandle.of(pid).isEmpty()) deleteTree(dir);
            }
        }
    }

    // ---------------------------------------------------------------- chroot

    // tag::jailer-thread[]
    /**
     * chroot(2) changes the root of the calling thread's "fs" context, which every thread of
     * the JVM shares. So a thread of our own first unshares it (CLONE_FS), then changes root:
     * the rest of the JVM keeps the host's root, and the child it spawns inherits the jail.
     */
    int enterRootAndSpawn(Path root, List<String> argv) throws InterruptedException {
        AtomicReference<Object> outcome = new AtomicReference<>();
        Thread jailer = new Thread(() -> {
            try {
                outcome.set(enterRoot(root, argv));
            } catch (RuntimeException e) {
                outcome.set(e);
            }
        }, "jailer");
        jailer.start();
        jailer.join();
        if (outcome.get() instanceof RuntimeException e) throw e;
        return (Integer) outcome.get();
    }
    // end::jailer-thread[]

    int enterRoot(Path root, List<String> argv) {
        check("unshare(CLONE_FS)", () -> LIBC.unshare(CLONE_FS), "");
        // tag::chroot[]
        check("chroot(\"" + root + "\")", () -> LIBC.chroot(root.toString()), "");
        // chroot(2) does not move the working directory: without this chdir it would still
        // point at the host's tree, outside the new root.
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
        // end::chroot[]
        narrate("inside, / holds: " + String.join(" ", listRoot()));
        if (escape) breakOut();
        return spawn(argv);
    }

    // tag::escape[]
    /**
     * The double-chroot escape. The kernel stops ".." only at the process's root. Chroot into
     * a subdirectory without moving the working directory, and the working directory is now
     * *outside* the root: ".." is never stopped again, so it climbs to the host's real "/".
     * Any process with CAP_SYS_CHROOT inside the jail can do this.
     */
    void breakOut() {
        deleteQuietly(Path.of("breakout")); // left by a run that was killed mid-escape
        check("mkdir(\"breakout\", 0755)", () -> LIBC.mkdir("breakout", 0755), "");
        check("chroot(\"breakout\")", () -> LIBC.chroot("breakout"), "");
        int depth = 64; // deeper than any real path: extra ".." at the real root stay there
        for (int i = 0; i < depth; i++) LIBC.chdir("..");
        narrate("chdir(\"..\") x " + depth + " = 0");
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        narrate(rootIdentity().equals(HOST_ROOT) ? "escaped: \"/\" is the host's root directory again" : "still inside: \"/\" is not the host's root");
    }
    // end::escape[]

    /** The host's "/" as device and inode, read before any chroot. */
    static final Map<String, Object> HOST_ROOT = rootIdentity();

    static Map<String, Object> rootIdentity() {
        try {
            return Files.readAttributes(Path.of("/"), "unix:dev,ino");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Java's file calls run on this thread, so they see this thread's root. */
    static List<String> listRoot() {
        try (Stream<Path> entries = Files.list(Path.of("/"))) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---------------------------------------------------------------- the command

    // tag::spawn[]
    /**
     * A C program would fork(2) and execv(2) in the child. Java can't fork a JVM, so
     * posix_spawn(3) does both at once: the child starts with this thread's root and working
     * directory, and replaces itself with the command.
     */
    int spawn(List<String> argv) {
        String program = resolveInside(argv.get(0));
        IntByReference pid = new IntByReference();
        String[] cArgv = nullTerminated(argv);
        String[] cEnv = nullTerminated(environmentInside());
        // Said before the call: once it returns, the command is already running and printing.
        narrate("posix_spawn(\"" + program + "\", " + argv + ")");
        // posix_spawn returns the error number instead of setting errno.
        int error = LIBC.posix_spawn(pid, program, null, null, cArgv, cEnv);
        if (error != 0)
            throw new StageFailure("posix_spawn(\"" + program + "\") failed: " + describe(error));
        return pid.getValue();
    }
    // end::spawn[]

    /** PATH search, done here so that it happens inside the new root. */
    String resolveInside(String name) {
        if (name.contains("/")) {
            if (!Files.exists(Path.of(name))) throw new StageFailure(noSuchCommand(name));
            return name;
        }
        return INSIDE_PATH.stream().map(d -> d + "/" + name).filter(p -> Files.isExecutable(Path.of(p)))
                .findFirst().orElseThrow(() -> new StageFailure(noSuchCommand(name)));
    }

    String noSuchCommand(String name) {
        if (escape) return "no such command on the host: " + name;
        if (rootfs != null) return "no such command in " + rootfs + ": " + name;
        return "no such command in the jail: " + name + " (the jail holds only what was copied: add it with --copy)";
    }

    static List<String> environmentInside() {
        List<String> env = new ArrayList<>(List.of("PATH=" + String.join(":", INSIDE_PATH), "HOME=/", "PS1=[01-chroot] \\w # "));
        String term = System.getenv("TERM");
        if (term != null) env.add("TERM=" + term);
        return env;
    }

    /** The stage's exit status is the command's: its exit code, or 128 + the signal that killed it. */
    static int waitForExit(int pid) {
        forwardSignals(pid);
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

    /** Ctrl-C or a kill aimed at the stage reaches the command too, and the stage waits for it to end. */
    static void forwardSignals(int pid) {
        for (String name : List.of("INT", "TERM", "HUP")) {
            sun.misc.Signal signal = new sun.misc.Signal(name);
            sun.misc.Signal.handle(signal, s -> LIBC.kill(pid, s.getNumber()));
        }
    }

    // ---------------------------------------------------------------- narration and errors

    static boolean narrating = true;

    static void narrate(String line) {
        if (narrating) System.err.println("[parent] " + line);
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

    static List<String> run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            List<String> lines = new String(p.getInputStream().readAllBytes()).lines().toList();
            p.waitFor();
            return lines;
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(Main::deleteQuietly);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // best effort: a file we cannot delete is reported by the next run's cleanup
        }
    }

    // ---------------------------------------------------------------- libc

    // tag::libc[]
    /** The few libc functions this stage calls, bound by name through jnr-ffi. */
    public interface LibC {
        int geteuid();
        int unshare(int flags);
        int chroot(String path);
        int chdir(String path);
        int mkdir(String path, int mode);
        int posix_spawn(@Out IntByReference pid, String path, Pointer fileActions, Pointer attributes,
                        @In String[] argv, @In String[] envp);
        int waitpid(int pid, @Out IntByReference status, int options);
        int kill(int pid, int signal);
        String strerror(int errno);
    }

    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    static final int CLONE_FS = 0x00000200; // <linux/sched.h>
    // end::libc[]
}

package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

import static container.Escape.*;
import static container.LibC.*;
import static container.Narration.*;

/** Into the jail: a thread of our own changes its root, then spawns the command, which starts there. */
final class Chroot {
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");

    // tag::jailer-thread[]
    /**
     * chroot(2) changes the root of the calling thread's "fs" context, which every thread of
     * the JVM shares. So a thread of our own first unshares it (CLONE_FS), then changes root:
     * the rest of the JVM keeps the host's root, and the child it spawns inherits the jail.
     */
    static int enterRootAndSpawn(Path root, List<String> argv, boolean escape, Path rootfs) throws InterruptedException {
        AtomicReference<Object> outcome = new AtomicReference<>();
        Thread jailer = new Thread(() -> {
            try {
                outcome.set(enterRoot(root, argv, escape, rootfs));
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

    static int enterRoot(Path root, List<String> argv, boolean escape, Path rootfs) {
        check("unshare(CLONE_FS)", () -> LIBC.unshare(CLONE_FS), "");
        changeRoot(root);
        narrate("inside, / holds: " + String.join(" ", listRoot()));
        if (escape) breakOut();
        return spawn(argv, escape, rootfs);
    }

    // lesson::chroot[] Change this thread's root to the jail
    //   What: chroot(2) into root, then chdir(2) to "/", each through check(...).
    //   Read: man 2 chroot, man 2 chdir
    //   Trap: chroot does not move the working directory: without the chdir it still points at
    //     the host's tree, outside the new root, and relative paths reach the host.
    // tag::chroot[]
    static void changeRoot(Path root) {
        check("chroot(\"" + root + "\")", () -> LIBC.chroot(root.toString()), "");
        // chroot(2) does not move the working directory: without this chdir it would still
        // point at the host's tree, outside the new root.
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
    }
    // end::chroot[]

    // tag::spawn[]
    /**
     * A C program would fork(2) and execv(2) in the child. Java can't fork a JVM, so
     * posix_spawn(3) does both at once: the child starts with this thread's root and working
     * directory, and replaces itself with the command.
     */
    static int spawn(List<String> argv, boolean escape, Path rootfs) {
        String program = resolveInside(argv.get(0), escape, rootfs);
        IntByReference pid = new IntByReference();
        String[] cArgv = nullTerminated(argv);
        String[] cEnv = nullTerminated(environmentInside());
        Pointer onlyStdio = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128); // posix_spawn_file_actions_t
        LIBC.posix_spawn_file_actions_init(onlyStdio);
        Descriptors.closeFrom(onlyStdio, 3); // the command gets nothing of this JVM's open files
        // Said before the call: once it returns, the command is already running and printing.
        narrate("posix_spawn(\"" + program + "\", " + argv + ")");
        // posix_spawn returns the error number instead of setting errno.
        int error = LIBC.posix_spawn(pid, program, onlyStdio, null, cArgv, cEnv);
        if (error != 0)
            throw new StageFailure("posix_spawn(\"" + program + "\") failed: " + describe(error));
        return pid.getValue();
    }
    // end::spawn[]

    /** PATH search, done here so that it happens inside the new root. */
    static String resolveInside(String name, boolean escape, Path rootfs) {
        if (name.contains("/")) {
            if (!Files.exists(Path.of(name))) throw new StageFailure(noSuchCommand(name, escape, rootfs));
            return name;
        }
        return INSIDE_PATH.stream().map(d -> d + "/" + name).filter(p -> Files.isExecutable(Path.of(p)))
                .findFirst().orElseThrow(() -> new StageFailure(noSuchCommand(name, escape, rootfs)));
    }

    static String noSuchCommand(String name, boolean escape, Path rootfs) {
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
}

package container;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import jnr.constants.platform.Errno;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

import static container.Init.*;
import static container.LibC.*;
import static container.Narration.*;
import static container.UserNamespace.*;

/** The parent's side: it starts the container's init in new namespaces, waits for it, and passes signals on. */
final class Parent {

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
    static Container startInit() throws InterruptedException {
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

    /** The same stage, run again by the same java with the same JVM options, as init. */
    static List<String> initCommand() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "--init"));
        cmd.addAll(Main.forInit);
        return cmd;
    }

    /**
     * The options this JVM was started with, read back from its own command line (the kernel
     * keeps it in /proc/self/cmdline): those at the top of Main.java, and the class-data archive
     * the jbang launcher adds when there is one. init lives a second too, so it starts the same
     * way. The class path is left out, to be given again.
     */
    static List<String> jvmOptions() {
        String[] args = ProcessHandle.current().info().arguments().orElse(new String[0]);
        List<String> options = new ArrayList<>();
        for (int i = 0; i < args.length && !args[i].equals(Main.class.getName()); i++) {
            if (args[i].equals("-cp") || args[i].equals("-classpath")) i++;
            else options.add(args[i]);
        }
        return options;
    }

    /** posix_spawn file actions that give init the start pipe's read end as fd 3, the ready pipe's write end as fd 4. */
    static Pointer initPipes(int startReadEnd, int readyWriteEnd) {
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128); // sizeof(posix_spawn_file_actions_t) is 80
        LIBC.posix_spawn_file_actions_init(actions);
        // dup2 clears O_CLOEXEC on the copy: fds 3 and 4 alone survive into init.
        LIBC.posix_spawn_file_actions_adddup2(actions, startReadEnd, INIT_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, readyWriteEnd, READY_PIPE_FD);
        Descriptors.closeFrom(actions, READY_PIPE_FD + 1); // and nothing else of the parent's
        return actions;
    }

    static int spawn(List<String> argv, Pointer fileActions) {
        IntByReference pid = new IntByReference();
        List<String> before = argv.subList(0, (int) argv.stream().takeWhile(word -> !word.endsWith("/bin/java")).count());
        int main = argv.indexOf(Main.class.getName()); // then --init, or exec's --exec
        narrate("posix_spawnp(\"" + argv.get(0) + "\", [" + String.join(" ", before.stream().map(Parent::quoted).toList()) + " java ... Main "
                + (main >= 0 && main + 1 < argv.size() ? argv.get(main + 1) : "") + " ...])");
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

    // tag::interrupt[]
    /**
     * Left to the JVM, Ctrl-C, a kill or a hang-up would end the stage there and then, without
     * the finally that undoes what the run made on the host. An interrupt is not a crash: so
     * the stage takes these signals itself from its first step. One that comes while it sets
     * up is noted, and the set-up stops at its next step (stopIfInterrupted), through the same
     * finally as any failure; the stage then exits as the signal would have had it, with 128
     * and its number, without a word. Once init runs, the signal is passed on to it instead.
     */
    static volatile int interrupted, containerPid;

    static void takeSignals() {
        for (String name : List.of("INT", "TERM", "HUP"))
            sun.misc.Signal.handle(new sun.misc.Signal(name), s -> {
                interrupted = s.getNumber();
                if (containerPid != 0) passOn(containerPid, interrupted);
            });
    }

    static void stopIfInterrupted() {
        if (interrupted != 0) throw new StageFailure("interrupted by signal " + interrupted);
    }
    // end::interrupt[]

    // tag::signals[]
    /**
     * From now on a signal aimed at the stage goes to the container's PID 1 (and one that came
     * while init was starting goes now). But PID 1 of a namespace gets only the signals it has
     * a handler for (sleep has none), except SIGKILL from outside. So if the container is still
     * there after a grace period, SIGKILL ends it, and with PID 1 the kernel ends every process
     * in its namespace.
     */
    static void forwardSignals(int pid) {
        containerPid = pid;
        if (interrupted != 0) passOn(pid, interrupted);
    }

    static void passOn(int pid, int signal) {
        Freezer.thawBeforeSignal(pid); // a paused container could take no signal
        LIBC.kill(pid, signal);
        Thread killer = new Thread(() -> {
            sleep(GRACE_MILLIS);
            if (LIBC.kill(pid, 0) == 0) check("kill(" + pid + ", SIGKILL)", () -> LIBC.kill(pid, SIGKILL), "");
        });
        killer.setDaemon(true);
        killer.start();
    }
    // end::signals[]

    static final long GRACE_MILLIS = 2000;

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

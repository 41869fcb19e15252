package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.Init.*;
import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::exec[]
/**
 * exec: one more process in a running container, as `podman exec` and `docker exec` ask for
 * it. Nothing is made: the process joins what create made for init. Its namespaces are init's,
 * joined through /proc/PID/ns by nsenter; its cgroups are init's, written in before it runs;
 * its root is init's mount namespace. That one nsenter cannot join for it: the JVM must start
 * on the host's files (java, its jars), and only then move into the container's. setns(2)
 * refuses to move a thread into another mount namespace while it shares its filesystem
 * context (root, working directory) with other threads, and a JVM's threads all do; so the
 * process's own JVM first takes a context of its own for its main thread, unshare(CLONE_FS),
 * then joins, and from that thread does what init did for its process (user, capabilities,
 * no_new_privs, seccomp, rlimits) before execve(2). What it runs is the engine's
 * process.json, config.json's process field over again.
 */
final class ExecProcess {
    /** Where the new process finds the container's mount namespace: create's start pipe's number, free here. */
    static final int MOUNT_NS_FD = 3;

    /**
     * The runtime's side: the process file kept beside the state while the new JVM reads it,
     * the chain started (the first shell waits while it is moved into the container's groups),
     * then the new JVM's word, and the PID file. With --detach the process is orphaned to the
     * engine, which asked to be its subreaper; without, this process is the subreaper and
     * waits for it, and its exit status is exec's.
     */
    static int run(RuntimeState state, Bundle withProcess, boolean detach, Path pidFile, Path consoleSocket, boolean debug) throws Exception {
        String status = state.status();
        if (!status.equals("running")) throw new StageFailure("container " + state.id() + " is " + status + ": exec needs a running container");
        Path spec = state.dir.resolve("exec-" + ProcessHandle.current().pid() + ".json");
        Files.writeString(spec, Json.write(withProcess.process()));
        try {
            if (!detach) check("prctl(PR_SET_CHILD_SUBREAPER, 1)", () -> LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "");
            Started started = start(state, spec, consoleSocket, debug);
            int pid = started.pid();
            String word = InitProcess.readAll(started.ready()).trim(); // "ok", or why not, then end-of-file
            LIBC.close(started.ready());
            if (!word.equals("ok")) {
                LIBC.kill(pid, SIGKILL);
                throw new StageFailure(word.startsWith("error: ") ? word.substring(7) : "the process ended before it ran (" + word + ")");
            }
            if (pidFile != null) RuntimeCommands.writePidFile(pidFile, pid);
            if (detach) return 0;
            Parent.forwardSignals(pid);
            Parent.takeSignals();
            return Parent.waitForExit(pid);
        } finally {
            Files.deleteIfExists(spec);
        }
    }

    /** The new process, by its PID on the host, and the pipe on which it says "ok" or why not. */
    record Started(int pid, int ready) {
    }

    /** The chain, as create's for init, with init's namespaces to join instead of new ones. */
    static Started start(RuntimeState state, Path spec, Path consoleSocket, boolean debug) {
        int init = state.pid();
        List<String> command = new ArrayList<>(List.of("/bin/sh", "-c", InitProcess.IN_ITS_GROUPS, "cgroups", "nsenter", "--no-fork"));
        for (String type : List.of("user", "pid", "network", "ipc", "uts", "cgroup")) { // the user namespace first: it owns the others
            String file = "/proc/" + init + "/ns/" + (type.equals("network") ? "net" : type);
            if (!sameNamespace(Path.of(file), Path.of("/proc/self/ns/" + (type.equals("network") ? "net" : type))))
                command.add(InitProcess.NSENTER_FLAGS.get(type) + file);
        }
        command.addAll(List.of("--", "/bin/sh", "-c", InitProcess.BACKGROUND, "exec"));
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(Parent.jvmOptions());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "--exec", state.dir.toString(), spec.toString(), Boolean.toString(debug)));

        int console = consoleSocket == null ? -1 : Console.connect(consoleSocket);
        int mountNs = check("open(\"/proc/" + init + "/ns/mnt\", O_RDONLY|O_CLOEXEC)", () -> LIBC.open("/proc/" + init + "/ns/mnt", O_RDONLY | O_CLOEXEC, 0), "");
        int[] readyPipe = new int[2], pidPipe = new int[2], groups = new int[2];
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(readyPipe, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(pidPipe, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(groups, O_CLOEXEC), "");
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128);
        LIBC.posix_spawn_file_actions_init(actions);
        LIBC.posix_spawn_file_actions_adddup2(actions, mountNs, MOUNT_NS_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, readyPipe[1], READY_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, pidPipe[1], InitProcess.PID_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, groups[0], InitProcess.GROUPS_PIPE_FD);
        if (console >= 0) Console.handDown(actions, console);
        Descriptors.closeFrom(actions, console >= 0 ? Console.SOCKET_FD + 1 : InitProcess.GROUPS_PIPE_FD + 1);
        int shell;
        try {
            shell = Parent.spawn(command, actions);
            for (Path group : state.groups()) write(group.resolve("cgroup.procs"), Integer.toString(shell));
            check("write(" + groups[1] + ", \"go\\n\", 3)", () -> LIBC.write(groups[1], "go\n".getBytes(), 3), "");
        } finally {
            if (console >= 0) LIBC.close(console);
            LIBC.close(mountNs);
            LIBC.close(readyPipe[1]);
            LIBC.close(pidPipe[1]);
            LIBC.close(groups[0]);
            LIBC.close(groups[1]);
        }
        String line = InitProcess.readAll(pidPipe[0]).trim();
        LIBC.close(pidPipe[0]);
        int status = Parent.waitForExit(shell);
        if (!line.matches("\\d+")) {
            LIBC.close(readyPipe[0]);
            throw new StageFailure("could not join container " + state.id() + "'s namespaces (nsenter exited with " + status + "; its message is above)");
        }
        narrate("the new process is PID " + line + " on the host; the shell that started it, PID " + shell + ", has exited");
        return new Started(Integer.parseInt(line), readyPipe[0]);
    }

    /** nsenter refuses to join the user namespace it is in already (EPERM): only the others are joined. */
    static boolean sameNamespace(Path a, Path b) {
        try {
            return Files.readSymbolicLink(a).equals(Files.readSymbolicLink(b));
        } catch (IOException e) {
            throw new StageFailure("cannot read " + a + ": " + e.getMessage());
        }
    }

    /** The new process's side: java ... Main --exec STATE_DIR PROCESS_FILE DEBUG, in the container's namespaces but the mount namespace, which it joins itself. */
    static int runInside(Path stateDir, Path spec, boolean debug) {
        narrating = debug;
        side = "exec";
        try {
            RuntimeState state = RuntimeState.load(stateDir.getParent(), stateDir.getFileName().toString());
            Map<String, Object> process = Json.object(Json.parse(Files.readString(spec)), "process.json");
            Bundle bundle = Bundle.load(Path.of((String) state.saved.get("bundle"))).withProcess(process);
            BundleInit it = new BundleInit(bundle, stateDir);
            Rlimits.checkNames(bundle.rlimits());
            int[][] filter = bundle.seccomp() == null ? null : SeccompProfile.compile(bundle.seccomp());
            Memory.allocateDirect(Runtime.getRuntime(LIBC), 16); // jnr-ffi's helper thread, now
            check("unshare(CLONE_FS)", () -> LIBC.unshare(CLONE_FS), "");
            check("setns(" + MOUNT_NS_FD + ", CLONE_NEWNS)", () -> LIBC.setns(MOUNT_NS_FD, CLONE_NEWNS), "");
            LIBC.close(MOUNT_NS_FD); // this thread's root and working directory are now the container's "/"
            if (bundle.terminal()) it.console = Console.open(Bundle.number(bundle.user(), "uid", 0), bundle.consoleSize());
            if (filter != null && !bundle.noNewPrivileges()) Seccomp.install(filter);
            it.becomeTheProcessUser();
            String program = BundleInit.resolve(bundle.args().get(0), bundle.env());
            BundleInit.tell("ok");
            LIBC.close(READY_PIPE_FD);
            BundleInit.createListens = false;
            if (filter != null && bundle.noNewPrivileges()) Seccomp.install(filter);
            return it.exec(program);
        } catch (IOException | RuntimeException e) {
            BundleInit.tell("error: " + e.getMessage());
            return STAGE_FAILED;
        }
    }
}
// end::exec[]

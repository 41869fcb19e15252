package container;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.Bundle.*;
import static container.Init.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::init-process[]
/**
 * create's view of the container's init. As in stages 06 to 08, util-linux's unshare, a
 * single-threaded program, makes the new namespaces (the JVM cannot make a user namespace);
 * nsenter first joins those config.json gives by path. But the shell they become does not
 * wait for init: it starts init in the background, says its PID on fd 5 and exits. init is
 * orphaned, and the kernel gives it to the nearest "subreaper" above it, the engine's conmon
 * or shim, which asked to be one: the container outlives create, as the spec wants, and its
 * exit status goes to the engine. That is runc's shape too (runc init's parent, runc create,
 * exits).
 */
final class InitProcess {
    final int pid;
    private final int startPipe, readyPipe;

    private InitProcess(int pid, int startPipe, int readyPipe) {
        this.pid = pid;
        this.startPipe = startPipe;
        this.readyPipe = readyPipe;
    }

    static final Map<String, String> UNSHARE_FLAGS = Map.of("pid", "--pid", "network", "--net", "mount", "--mount",
            "ipc", "--ipc", "uts", "--uts", "user", "--user", "cgroup", "--cgroup");
    static final Map<String, String> NSENTER_FLAGS = Map.of("pid", "--pid=", "network", "--net=", "ipc", "--ipc=",
            "uts", "--uts=", "cgroup", "--cgroup=", "user", "--user=");

    /**
     * A new cgroup namespace has the creator's groups as its root, so the chain must be in the
     * container's groups before unshare makes it: the first shell waits on fd 6 while create
     * moves it there, then becomes the rest of the chain (its children stay in the groups).
     */
    static final String IN_ITS_GROUPS = "read -r go <&6; exec 6<&-; exec \"$@\"";

    /**
     * The shell: fd 0 saved as 8 first (a shell gives a background job /dev/null for stdin,
     * before any redirection), then init started with the real one, its PID written on fd 5.
     */
    static final String BACKGROUND = "exec 8<&0; \"$@\" <&8 8<&- 5>&- & echo $! >&5";

    static List<String> command(Bundle bundle, Path stateDir, boolean debug) {
        List<String> command = new ArrayList<>(List.of("/bin/sh", "-c", IN_ITS_GROUPS, "cgroups"));
        List<String> joins = new ArrayList<>(), creates = new ArrayList<>();
        for (Map<String, Object> ns : bundle.namespaces()) {
            String type = (String) ns.get("type"), path = (String) ns.get("path");
            if (path != null) joins.add(NSENTER_FLAGS.get(type) + path);
            else creates.add(UNSHARE_FLAGS.get(type));
        }
        if (!joins.isEmpty()) {
            command.addAll(List.of("nsenter", "--no-fork"));
            command.addAll(joins.stream().sorted((a, b) -> a.startsWith("--user") ? -1 : b.startsWith("--user") ? 1 : 0).toList()); // the user namespace first: it owns the others
            command.add("--");
        }
        command.add("unshare");
        command.addAll(creates);
        if (creates.contains("--user")) command.add("--keep-caps");
        command.addAll(List.of("--propagation", "unchanged", "--", "/bin/sh", "-c", BACKGROUND, "init"));
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(Parent.jvmOptions()); // init starts as light as this JVM did
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "--init", "--bundle", stateDir.toString(), Boolean.toString(debug)));
        return command;
    }

    static InitProcess start(Bundle bundle, Path stateDir, boolean debug, CgroupsPath cgroup, int console) {
        int[] start = new int[2], ready = new int[2], pidPipe = new int[2], groups = new int[2];
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(groups, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(start, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(ready, O_CLOEXEC), "");
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(pidPipe, O_CLOEXEC), "");
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128);
        LIBC.posix_spawn_file_actions_init(actions);
        LIBC.posix_spawn_file_actions_adddup2(actions, start[0], INIT_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, ready[1], READY_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, pidPipe[1], PID_PIPE_FD);
        LIBC.posix_spawn_file_actions_adddup2(actions, groups[0], GROUPS_PIPE_FD);
        if (console >= 0) Console.handDown(actions, console);
        Descriptors.closeFrom(actions, console >= 0 ? Console.SOCKET_FD + 1 : GROUPS_PIPE_FD + 1);
        int shell;
        try {
            shell = Parent.spawn(command(bundle, stateDir, debug), actions);
            cgroup.join(shell); // the chain, and so init, is in the container's groups from here on
            check("write(" + groups[1] + ", \"go\\n\", 3)", () -> LIBC.write(groups[1], "go\n".getBytes(), 3), "");
        } finally {
            LIBC.close(start[0]);
            LIBC.close(ready[1]);
            LIBC.close(pidPipe[1]);
            LIBC.close(groups[0]);
            LIBC.close(groups[1]);
        }
        String line = readAll(pidPipe[0]).trim();
        LIBC.close(pidPipe[0]);
        int status = Parent.waitForExit(shell); // the shell is create's child: reaped here
        if (!line.matches("\\d+")) {
            LIBC.close(start[1]);
            LIBC.close(ready[0]);
            throw new StageFailure("the namespaces could not be made (unshare exited with " + status + "; its message is above)");
        }
        narrate("init is PID " + line + " on the host; the shell that started it, PID " + shell + ", has exited");
        return new InitProcess(Integer.parseInt(line), start[1], ready[0]);
    }

    static final int PID_PIPE_FD = 5, GROUPS_PIPE_FD = 6;

    /** Everything until end-of-file: init's word, or the shell's PID line. */
    static String readAll(int fd) {
        StringBuilder text = new StringBuilder();
        byte[] buffer = new byte[4096];
        for (int n; (n = LIBC.read(fd, buffer, buffer.length)) > 0; ) text.append(new String(buffer, 0, n));
        return text.toString();
    }

    /** init's first line: its JVM is up. */
    void awaitUp() {
        byte[] up = new byte[3];
        if (LIBC.read(readyPipe, up, 3) != 3) throw new StageFailure("the container's init ended before it was up");
    }

    /** The id maps, for a new user namespace: written from outside, while init waits. */
    void writeIdMaps(Bundle bundle) {
        if (!bundle.hasNewNamespace("user")) return;
        new IdMaps(ranges(bundle.mappings("uidMappings")), ranges(bundle.mappings("gidMappings"))).writeFor(pid, LIBC.geteuid() != 0);
    }

    static List<long[]> ranges(List<Map<String, Object>> mappings) {
        return mappings.stream().map(m -> new long[]{number(m, "containerID", 0), number(m, "hostID", 0), number(m, "size", 0)}).toList();
    }

    /** "go": once after the maps and the cgroup, and once more after the createRuntime hooks, if there are any. */
    void release() {
        check("write(" + startPipe + ", \"go\", 1)", () -> LIBC.write(startPipe, new byte[]{'g'}, 1), "");
    }

    /** init's next line: "hooks" when it waits for the runtime's hooks; anything else is its last word, kept for awaitSetUp. */
    boolean saysHooks() {
        StringBuilder line = new StringBuilder();
        byte[] b = new byte[1];
        while (LIBC.read(readyPipe, b, 1) == 1 && b[0] != '\n') line.append((char) b[0]);
        if (line.toString().equals("hooks")) return true;
        lastWord = line.toString();
        return false;
    }

    private String lastWord;

    /** init's last word before the FIFO: "ok", or what went wrong. */
    void awaitSetUp() {
        String word = (lastWord != null ? lastWord : readAll(readyPipe)).trim();
        LIBC.close(readyPipe);
        LIBC.close(startPipe);
        if (!word.equals("ok")) throw new StageFailure(word.isEmpty() ? "the container's init ended while it set up" : word.replaceFirst("^error: ", ""));
    }
}
// end::init-process[]

package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

/** Init's side: PID 1 in the new namespaces waits for the parent, then becomes the command. */
final class Init {
    static final int INIT_PIPE_FD = 3; // where init finds its end of the start pipe
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");

    /** A UTS namespace holds a hostname of its own: setting it here leaves the host's as it was. */
    static void setHostname(String hostname) {
        check("sethostname(\"" + hostname + "\", " + hostname.length() + ")", () -> LIBC.sethostname(hostname, hostname.length()), "");
    }

    /** A proc filesystem shows the PID namespace of the process that mounts it: ours. */
    static void mountProc() {
        check("mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)",
                () -> LIBC.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, null), "");
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
        Descriptors.closeOnExecAbove2(); // the command gets stdin, stdout and stderr, nothing of the JVM's
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
}

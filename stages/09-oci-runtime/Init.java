package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jnr.ffi.Memory;
import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

/** Init's side: PID 1 in the new namespaces waits for the parent, then becomes the command. */
final class Init {
    static final int INIT_PIPE_FD = 3; // where init finds its end of the start pipe
    static final int READY_PIPE_FD = 4; // where init says it is up
    static final List<String> INSIDE_PATH = List.of("/bin", "/usr/bin", "/sbin", "/usr/sbin");

    /** A UTS namespace holds a hostname of its own: setting it here leaves the host's as it was. */
    static void setHostname(String hostname) {
        check("sethostname(\"" + hostname + "\", " + hostname.length() + ")", () -> LIBC.sethostname(hostname, hostname.length()), "");
    }

    // tag::cgroupns[]
    /**
     * /proc/self/cgroup names a process's groups from the root of its cgroup namespace, and the
     * host's root shows the container where it stands on the host (/workbook/04-cgroup-cpu-PID).
     * A namespace of its own, made once init is in its groups (the parent moved it there
     * before it said "go"), makes those groups its root: "/" in every hierarchy, "0::/" on v2.
     * Made any earlier, its root would be the group the stage was started in.
     */
    static void enterOwnCgroupNamespace() {
        check("unshare(CLONE_NEWCGROUP)", () -> LIBC.unshare(CLONE_NEWCGROUP), "");
    }
    // end::cgroupns[]

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
        List<String> env = new ArrayList<>(List.of("PATH=" + String.join(":", INSIDE_PATH), "HOME=/root", "PS1=[09-oci-runtime] \\h:\\w # "));
        if (hostname != null) env.add("HOSTNAME=" + hostname);
        String term = System.getenv("TERM");
        if (term != null) env.add("TERM=" + term);
        return env;
    }
}

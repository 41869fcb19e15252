package container;

import java.util.List;
import java.util.Map;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

import static container.Bundle.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::hooks[]
/**
 * config.json's hooks: programs the runtime runs at points of a container's life, each given
 * the container's state (the JSON `state` prints) on its stdin. That is how an engine plugs
 * in what the runtime does not do itself: a network set up once the namespace exists
 * (createRuntime, or the older prestart), a GPU's device files (createContainer), a record
 * that the container started (poststart) or a clean-up after it (poststop). A hook that fails
 * or outlives its timeout fails the step, except poststart and poststop: then it is only said.
 *
 * The hooks are started with posix_spawn(3), not Java's ProcessBuilder: init runs
 * startContainer after pivot_root, where the JDK's helper program is out of reach.
 */
final class Hooks {
    static final int WNOHANG = 1;

    /** hooks: config.json's hooks object (create keeps a copy in the state: a later change to config.json changes nothing). */
    static void run(Map<String, Object> all, String phase, String state) {
        List<Map<String, Object>> hooks = objects(all.get(phase));
        for (Map<String, Object> hook : hooks) {
            String path = (String) hook.get("path");
            if (path == null) throw new StageFailure("hooks." + phase + ": a hook has no path");
            List<String> args = strings(hook.get("args"));
            if (args.isEmpty()) args = List.of(path);
            int status = spawnAndWait(path, args, strings(hook.get("env")), state, number(hook, "timeout", 0));
            narrate("hook " + phase + " " + path + " = " + status);
            if (status != 0) {
                String message = "hooks." + phase + " " + path + (status == -1 ? " timed out" : " failed with exit status " + status);
                if (phase.equals("poststart") || phase.equals("poststop")) System.err.println(NAME + ": " + message);
                else throw new StageFailure(message);
            }
        }
    }

    /** The hook's exit status, 128 + a signal that ended it, or -1 when it outlived its timeout (then it is killed). */
    static int spawnAndWait(String path, List<String> args, List<String> env, String stdin, long timeoutSeconds) {
        int[] pipe = new int[2];
        check("pipe2([r, w], O_CLOEXEC)", () -> LIBC.pipe2(pipe, O_CLOEXEC), "");
        Pointer actions = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128);
        LIBC.posix_spawn_file_actions_init(actions);
        LIBC.posix_spawn_file_actions_adddup2(actions, pipe[0], 0);
        Descriptors.closeFrom(actions, 3);
        IntByReference pid = new IntByReference();
        int error = LIBC.posix_spawn(pid, path, actions, null, nullTerminated(args), nullTerminated(env));
        LIBC.close(pipe[0]);
        if (error != 0) {
            LIBC.close(pipe[1]);
            throw new StageFailure("hook " + path + ": posix_spawn failed: " + describe(error));
        }
        byte[] bytes = stdin.getBytes();
        LIBC.write(pipe[1], bytes, bytes.length); // a hook that reads nothing gets EPIPE here, not us: SIGPIPE is the JVM's to ignore
        LIBC.close(pipe[1]);
        long deadline = timeoutSeconds > 0 ? System.nanoTime() + timeoutSeconds * 1_000_000_000L : Long.MAX_VALUE;
        IntByReference status = new IntByReference();
        while (LIBC.waitpid(pid.getValue(), status, WNOHANG) == 0) {
            if (System.nanoTime() > deadline) {
                LIBC.kill(pid.getValue(), SIGKILL);
                LIBC.waitpid(pid.getValue(), status, 0);
                return -1;
            }
            Parent.sleep(2);
        }
        int s = status.getValue();
        return (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
    }
}
// end::hooks[]

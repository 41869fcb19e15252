package container;

import jnr.ffi.Pointer;

import static container.LibC.*;
import static container.Narration.*;

/**
 * The open files a process hands on. A child gets every descriptor of its parent that is not
 * marked close-on-exec, and a JVM holds dozens: its jars, the JDK's modules, the jar JBang
 * compiled the stage into. A command that inherits one can reopen it through /proc/self/fd/N,
 * for writing, whatever its root: runc's CVE-2024-21626 ("Leaky Vessels") was one such
 * descriptor. So the command gets stdin, stdout and stderr, and nothing else.
 */
final class Descriptors {
    private Descriptors() {
    }

    /** A posix_spawn file action: in the child, close every descriptor from FIRST up, before it runs. */
    static void closeFrom(Pointer fileActions, int first) {
        int error = LIBC.posix_spawn_file_actions_addclosefrom_np(fileActions, first);
        if (error != 0) throw new StageFailure("posix_spawn_file_actions_addclosefrom_np(" + first + ") failed: " + describe(error));
        narrate("posix_spawn_file_actions_addclosefrom_np(actions, " + first + ") = 0: the child keeps 0, 1 and 2 only");
    }
}

package container;

import java.util.List;

import jnr.constants.platform.Errno;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

import static container.LibC.*;
import static container.Narration.*;

/** The parent's side: it waits for the command and passes signals on. */
final class Parent {

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
}

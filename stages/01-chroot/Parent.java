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

    static volatile int interrupted, commandPid;

    /**
     * From the first step, Ctrl-C or a kill aimed at the stage is the stage's to handle: left
     * to the JVM, it would end the stage between two steps, with the command running and its
     * record or jail left behind. Before there is a command, the signal is noted and the stage
     * stops before starting one (stopIfInterrupted); after, it is passed on to the command.
     */
    static void takeSignals() {
        for (String name : List.of("INT", "TERM", "HUP"))
            sun.misc.Signal.handle(new sun.misc.Signal(name), s -> {
                interrupted = s.getNumber();
                if (commandPid != 0) LIBC.kill(commandPid, interrupted);
            });
    }

    static void stopIfInterrupted() {
        if (interrupted != 0) throw new StageFailure("interrupted by signal " + interrupted);
    }

    /** Ctrl-C or a kill aimed at the stage reaches the command too (one that came as it started, now), and the stage waits for it to end. */
    static void forwardSignals(int pid) {
        commandPid = pid;
        if (interrupted != 0) LIBC.kill(pid, interrupted);
    }
}

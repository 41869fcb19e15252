package container;

import java.util.List;
import java.util.Locale;

import static container.Narration.*;

/** Signal names as kill(1) takes them (TERM, SIGTERM, 15), for the runtime's kill. */
final class Signals {
    /** x86-64's and arm64's numbers (the same for these): <asm/signal.h>, 1 to 31. */
    static final List<String> NAMES = List.of("HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
            "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
            "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS");

    static int number(String signal) {
        if (signal.matches("\\d+")) {
            int n = Integer.parseInt(signal);
            if (n >= 1 && n <= 64) return n;
        }
        int index = NAMES.indexOf(signal.toUpperCase(Locale.ROOT).replaceFirst("^SIG", ""));
        if (index < 0) throw new StageFailure("no such signal " + signal + " (a name such as TERM or SIGKILL, or a number 1 to 64)");
        return index + 1;
    }
}

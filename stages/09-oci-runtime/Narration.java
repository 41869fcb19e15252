package container;

import java.util.List;
import java.util.function.IntSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jnr.constants.platform.Errno;
import jnr.ffi.Runtime;
import picocli.CommandLine;

import static container.LibC.*;

/** Each system call the lesson is about is printed as it happens, strace-style; a failed one stops the stage. */
final class Narration {
    static final int STAGE_FAILED = 125; // like `docker run`: the stage itself failed, not the command
    static final String NAME = "09-oci-runtime";

    static boolean narrating = true;
    static String side = "parent";

    static List<String> held;

    /** UTF-8 whatever the locale says, for the meter's bar. */
    static final java.io.PrintStream NARRATION = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true, java.nio.charset.StandardCharsets.UTF_8);

    static void narrate(String line) {
        if (!narrating) return;
        if (held != null) held.add("[" + side + "] " + line);
        else NARRATION.println("[" + side + "] " + line);
    }

    /** Makes a system call, narrates it strace-style, and stops the stage if it failed. */
    static int check(String call, IntSupplier syscall, String whatToDo) {
        int result = syscall.getAsInt();
        int errno = result < 0 ? Runtime.getRuntime(LIBC).getLastError() : 0;
        narrate(call + " = " + (result < 0 ? "-1 " + describe(errno) : result));
        if (result < 0)
            throw new StageFailure(call + " failed: " + describe(errno) + (whatToDo.isEmpty() ? "" : ". " + whatToDo));
        return result;
    }

    /** The same, without narration: for calls made once a file, hundreds of times a layer. */
    static void quietly(String call, IntSupplier syscall) {
        if (syscall.getAsInt() < 0)
            throw new StageFailure(call + " failed: " + describe(Runtime.getRuntime(LIBC).getLastError()));
    }

    static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        return (e == null || e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name()) + " (" + LIBC.strerror(errno) + ")";
    }

    /** picocli's words, except for an option left without its value, as `--hostname ''` is once JBang drops the ''. */
    static String optionError(CommandLine.ParameterException e) {
        Matcher noValue = Pattern.compile("(?:Expected|Missing required) parameter for option '([^']+)'").matcher(String.valueOf(e.getMessage()));
        if (e instanceof CommandLine.UnmatchedArgumentException unknown && !unknown.getSuggestions().isEmpty())
            return e.getMessage() + ": did you mean " + String.join(" or ", unknown.getSuggestions()) + "?";
        if (!noValue.find()) return e.getMessage();
        CommandLine.Model.OptionSpec option = e.getCommandLine().getCommandSpec().findOption(noValue.group(1));
        return noValue.group(1) + " needs a value" + (option == null ? "" : ", " + option.paramLabel())
                + " (an empty one, '', is dropped before the stage sees it)";
    }

    static int fail(String message) {
        System.err.println(NAME + ": " + message);
        return STAGE_FAILED;
    }

    /** The stage's own failure, told to the learner in one line (never a stack trace). */
    static class StageFailure extends RuntimeException {
        StageFailure(String message) { super(message); }
    }
}

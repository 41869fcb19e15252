package workbook;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What every stage promises when it cannot do its job. */
public final class Failures {
    private Failures() {
    }

    /** Exit status 125, one line "NN-name: what went wrong and what to do", no Java stack trace. */
    public static void assertStageFailed(Stage.Result result, String stage, String expectedText) {
        assertEquals(125, result.exit(), () -> "exit status of a failed stage\n" + result);
        String err = result.err();
        assertFalse(err.contains("Exception") || err.contains("\tat "), () -> "a stack trace instead of a message:\n" + result);
        List<String> lines = err.lines().filter(l -> l.startsWith(stage + ": ")).toList();
        assertEquals(1, lines.size(), () -> "one line that names the stage says what went wrong:\n" + result);
        assertTrue(lines.get(0).contains(expectedText), () -> "the error says \"" + expectedText + "\":\n" + result);
    }
}

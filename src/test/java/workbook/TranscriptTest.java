package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every transcript the book shows (docs/transcripts/*.txt) is run again and must match. A
 * transcript is one or more commands as the learner types them, each on a line starting with
 * "$ ", followed by what the terminal shows. Stage commands ({@code $ sudo jbang stages/...})
 * run through the harness; other lines (setting up a directory, cleaning up) run in sh as
 * root. Each transcript runs in a fresh NetworkLab "host" namespace, so that the networking
 * chapter's runs never touch the machine's own network. Output shows the workbook at /workbook, as in the course VM; numbers of two digits or
 * more (PIDs, inodes) are masked. To refresh the transcripts after a change to a stage:
 * {@code sudo mvn test -Dtest=TranscriptTest -Dtranscripts.update=true}.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class TranscriptTest {
    static final Path TRANSCRIPTS = Stage.WORKBOOK.resolve("docs/transcripts");
    static final boolean UPDATE = Boolean.getBoolean("transcripts.update");
    static final String STAGE_PROMPT = "$ sudo jbang stages/";

    static Stream<Path> transcripts() throws IOException {
        try (Stream<Path> files = Files.list(TRANSCRIPTS)) {
            return files.filter(f -> f.toString().endsWith(".txt")).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transcripts")
    void theBookShowsWhatTheStagePrints(Path transcript) throws IOException {
        String expected = Files.readString(transcript);
        assertTrue(expected.lines().anyMatch(l -> l.startsWith(STAGE_PROMPT)), transcript + " runs a stage: $ sudo jbang stages/NN-name/Main.java ...");
        StringBuilder actual = new StringBuilder();
        try (NetworkLab lab = NetworkLab.create()) {
            for (String prompt : expected.lines().filter(l -> l.startsWith("$ ")).toList())
                actual.append(prompt).append('\n').append(run(lab, prompt.substring(2)));
        }
        // The book shows the workbook where the course VM has it.
        String shown = actual.toString().replace(Stage.WORKBOOK.toString(), "/workbook");
        if (UPDATE) Files.writeString(transcript, shown);
        assertEquals(mask(expected), mask(shown), transcript.getFileName() + " is out of date");
    }

    /** Runs one command of a transcript; returns what the terminal would show. */
    static String run(NetworkLab lab, String commandLine) {
        if (("$ " + commandLine).startsWith(STAGE_PROMPT)) {
            List<String> words = words(commandLine.substring("sudo jbang ".length()));
            String stage = Path.of(words.get(0)).getParent().getFileName().toString();
            return lab.stage(Stage.of(stage)).mergeOutput().run(words.subList(1, words.size()).toArray(String[]::new)).out();
        }
        return lab.onHost("sh", "-c", commandLine + " 2>&1").out();
    }

    /** PIDs, inodes, file descriptors and mount IDs differ from run to run (and with the JVM's thread count). */
    static String mask(String text) {
        return text.replaceAll("\\d{2,}", "NN");
    }

    /** Splits a command line as a shell would, for the quoting a transcript uses ('...' and "..."). */
    static List<String> words(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder word = null;
        char quote = 0;
        for (char c : line.toCharArray()) {
            if (quote != 0) {
                if (c == quote) quote = 0;
                else word.append(c);
            } else if (c == '\'' || c == '"') {
                quote = c;
                if (word == null) word = new StringBuilder();
            } else if (Character.isWhitespace(c)) {
                if (word != null) words.add(word.toString());
                word = null;
            } else {
                if (word == null) word = new StringBuilder();
                word.append(c);
            }
        }
        if (word != null) words.add(word.toString());
        return words;
    }
}

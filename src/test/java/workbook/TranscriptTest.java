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
 * transcript's first line is the command as the learner types it ({@code $ sudo jbang
 * stages/...}); the rest is what the terminal shows, with the workbook at /workbook as in the
 * course VM. Numbers of three digits or more (PIDs,
 * inodes) are masked. To refresh the transcripts after a change to a stage:
 * {@code sudo mvn test -Dtest=TranscriptTest -Dtranscripts.update=true}.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class TranscriptTest {
    static final Path TRANSCRIPTS = Stage.WORKBOOK.resolve("docs/transcripts");
    static final boolean UPDATE = Boolean.getBoolean("transcripts.update");

    static Stream<Path> transcripts() throws IOException {
        try (Stream<Path> files = Files.list(TRANSCRIPTS)) {
            return files.filter(f -> f.toString().endsWith(".txt")).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transcripts")
    void theBookShowsWhatTheStagePrints(Path transcript) throws IOException {
        List<String> lines = Files.readAllLines(transcript);
        String prompt = lines.get(0);
        assertTrue(prompt.startsWith("$ sudo jbang stages/"), transcript + " starts with the command: $ sudo jbang stages/NN-name/Main.java ...");
        List<String> words = words(prompt.substring("$ sudo jbang ".length()));
        String stage = Path.of(words.get(0)).getParent().getFileName().toString();

        Stage.Result r = Stage.of(stage).mergeOutput().run(words.subList(1, words.size()).toArray(String[]::new));
        // The book shows the workbook where the course VM has it.
        String actual = prompt + "\n" + r.out().replace(Stage.WORKBOOK.toString(), "/workbook");
        if (UPDATE) Files.writeString(transcript, actual);
        assertEquals(mask(String.join("\n", lines) + "\n"), mask(actual), transcript.getFileName() + " is out of date");
    }

    /** PIDs, inodes and other long numbers differ from run to run. */
    static String mask(String text) {
        return text.replaceAll("\\d{3,}", "NNN");
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

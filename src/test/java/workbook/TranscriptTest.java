package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every transcript the book shows (docs/transcripts/*.txt) is run again and must match. A
 * transcript is one or more commands as the learner types them, each on a line starting with
 * "$ ", followed by what the terminal shows. Stage commands ({@code $ sudo jbang stages/...},
 * or {@code $ jbang stages/...} for the learner without sudo) run through the harness; other
 * lines (the kernel's own tools, setting up a directory, cleaning up) run in sh: as root, or as
 * the learner in a transcript where the learner runs a stage without sudo and writes sudo where
 * root is needed.
 * Each transcript runs in a fresh NetworkLab "host" namespace, so that the networking chapter's
 * runs never touch the machine's own network. Output shows the workbook at /workbook, as in the
 * course VM; numbers of two digits or more (PIDs, inodes, uids) and sha256 digests (whose
 * layers hold the rootfs's times) are masked. To refresh the
 * transcripts after a change to a stage:
 * {@code sudo mvn test -Dtest=TranscriptTest -Dtranscripts.update=true}. The transcripts in
 * docs/transcripts/vm/ need a cgroup v2 kernel and come from the course VM: scripts/vm-test runs
 * them there and checks them against these (--update writes them).
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class TranscriptTest {
    static final Path TRANSCRIPTS = Stage.WORKBOOK.resolve("docs/transcripts");
    static final boolean UPDATE = Boolean.getBoolean("transcripts.update");
    static final String ROOTLESS_STAGE_PROMPT = "$ jbang stages/";
    static final TestUser LEARNER = TestUser.LEARNER;

    static Stream<Path> transcripts() throws IOException {
        try (Stream<Path> files = Files.list(TRANSCRIPTS)) {
            return files.filter(f -> f.toString().endsWith(".txt")).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transcripts")
    void theBookShowsWhatTheStagePrints(Path transcript) throws IOException {
        String expected = Files.readString(transcript);
        boolean rootless = expected.lines().anyMatch(l -> l.startsWith(ROOTLESS_STAGE_PROMPT));
        assertTrue(expected.lines().anyMatch(l -> l.startsWith("$ ")), transcript + " has commands: lines starting with \"$ \"");
        org.junit.jupiter.api.Assumptions.assumeTrue(!expected.contains("\n$ sudo runc ") || Files.isExecutable(Path.of("/usr/sbin/runc")),
                "runc is not installed (scripts/test installs it)");
        StringBuilder actual = new StringBuilder();
        try (NetworkLab lab = NetworkLab.create()) {
            for (String prompt : expected.lines().filter(l -> l.startsWith("$ ")).toList())
                actual.append(prompt).append('\n').append(run(lab, prompt.substring(2), rootless));
        }
        // The book shows the workbook where the course VM has it, and the learner's home as vagrant's.
        String shown = actual.toString().replace(LEARNER.workbook().toString(), "/workbook").replace(Stage.WORKBOOK.toString(), "/workbook")
                .replace(LEARNER.home().toString(), "/home/vagrant");
        if (UPDATE) Files.writeString(transcript, shown);
        if (!mask(expected).equals(mask(shown)))
            assertEquals(byProcess(mask(expected)), byProcess(mask(shown)), transcript.getFileName() + " is out of date:\n" + shown);
    }

    /**
     * The parent's and init's lines interleave as the scheduler runs the two processes: init
     * may narrate its read of the parent's "go" before the parent has narrated the write. What
     * must match is each process's own lines, in their order; the lines of no process (the
     * commands, their output) keep their order too.
     */
    static Map<String, List<String>> byProcess(String text) {
        Map<String, List<String>> streams = new TreeMap<>();
        for (String line : text.lines().toList()) {
            Matcher side = NARRATOR.matcher(line);
            streams.computeIfAbsent(side.lookingAt() ? side.group(1) : "", k -> new ArrayList<>()).add(line);
        }
        return streams;
    }

    static final Pattern NARRATOR = Pattern.compile("\\[(parent|init|exec)\\] ");

    /**
     * Runs one command of a transcript; returns what the terminal would show. Stages run from
     * the learner's copy of the workbook, under /tmp, where stage 06's remapped root can reach
     * the rootfs wherever this checkout is.
     */
    static String run(NetworkLab lab, String commandLine, boolean rootless) {
        boolean sudo = commandLine.startsWith("sudo ");
        String typed = sudo ? commandLine.substring("sudo ".length()) : commandLine;
        if (typed.startsWith("jbang stages/")) {
            List<String> words = words(typed.substring("jbang ".length()));
            Stage stage = Stage.of(Path.of(words.get(0)).getParent().getFileName().toString());
            stage = sudo ? stage.asRootFromCopyOf(LEARNER) : stage.as(LEARNER);
            return lab.stage(stage).mergeOutput().run(words.subList(1, words.size()).toArray(String[]::new)).out();
        }
        // Every command's errors show, as on a terminal, not only the last one's.
        String line = "{ " + typed + "\n} 2>&1";
        if (rootless && !sudo) return lab.onHost(LEARNER.wrap(List.of("sh", "-c", line)).toArray(String[]::new)).out();
        // As root, a "sudo" further on in the line has nothing to do (and may not be installed).
        return lab.onHost("sh", "-c", "sudo() { \"$@\"; }; " + line).out();
    }

    /**
     * PIDs, inodes, file descriptors and mount IDs differ from run to run (and with the JVM's
     * thread count). A socket's descriptor is the lowest free one, which is 3 in a JVM that
     * mapped its classes from an archive and higher in one that opened its jars instead. And the
     * padding before a number can follow its width: strace writes "[pid  4711]" or "[pid 14711]".
     * strace -f prints "[pid N] ???(" for a thread killed inside a system call (a JVM's, as it
     * exits), and the next line can follow it on the same line: that fragment goes.
     */
    static String mask(String text) {
        return text.replaceAll("\\[pid +\\d+\\] \\?\\?\\?\\(", "").replaceAll("[0-9a-f]{64}", "HEX").replaceAll("sha256:[0-9a-f]{12}", "sha256:HEX").replaceAll("(socket\\(.*\\) = )\\d+", "$1N").replaceAll("(ioctl\\()\\d+", "$1N")
                .replaceAll(" +(\\d{2,})", " $1").replaceAll("\\d{2,}", "NN");
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

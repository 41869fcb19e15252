package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The jbang launcher scripts/setup installs keeps JBang's answer for a script (the java command
 * that runs its build) and uses it again without starting JBang's JVM, for as long as it holds:
 * an edit to any of the script's sources or files runs at once, a removed build is built again,
 * and an answer this user did not write is never run. On a small program of its own (two
 * sources and a //FILES resource), with a throwaway JBang directory.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class LauncherAnswersTest {
    @TempDir
    Path tmp;
    Path program, jbangDir, answers;

    @BeforeEach
    void aProgram() throws IOException {
        program = Files.createDirectories(tmp.resolve("program"));
        jbangDir = tmp.resolve("jbang");
        answers = jbangDir.resolve("cache/workbook-answers");
        Files.writeString(program.resolve("Main.java"), """
                //SOURCES Greeting.java
                //FILES greeting.txt
                class Main {
                    public static void main(String[] args) throws Exception {
                        try (var in = Main.class.getResourceAsStream("/greeting.txt")) {
                            System.out.println(Greeting.WORD + " " + new String(in.readAllBytes()).strip() + " " + String.join(",", args));
                        }
                    }
                }
                """);
        Files.writeString(program.resolve("Greeting.java"), "class Greeting { static final String WORD = \"hello\"; }\n");
        Files.writeString(program.resolve("greeting.txt"), "world\n");
    }

    @Test
    void theSecondRunStartsNoJvmOfJBangs() throws IOException {
        assertEquals("hello world a b,$HOME", run(logs("first"), "a b", "$HOME"));
        assertEquals(1, jvmsOf(logs("first"), "dev.jbang"), "the first run asks JBang");
        try (Stream<Path> kept = Files.list(answers)) {
            assertEquals(1, kept.count(), "one answer kept");
        }

        assertEquals("hello world a b,$HOME", run(logs("second"), "a b", "$HOME"));
        assertEquals(0, jvmsOf(logs("second"), "dev.jbang"), "the second run starts JBang's JVM all the same");
        assertEquals(1, jvmsOf(logs("second"), "Main"), "the program runs");

        // as stage 09's runtime script calls it: --quiet (JBang says nothing as it compiles)
        Stage.Result quiet = Host.run(tmp, Duration.ofMinutes(2), List.of("env", "JBANG_DIR=" + jbangDir,
                "JDK_JAVA_OPTIONS=-Xlog:class+load=info:file=" + logs("quiet") + "/%p.log", "jbang", "--quiet", program.resolve("Main.java").toString(), "x"));
        assertEquals("hello world x", quiet.out().strip(), quiet::toString);
        assertEquals(0, jvmsOf(logs("quiet"), "dev.jbang"), "jbang --quiet starts JBang's JVM all the same");
    }

    @Test
    void anEditToAnyOfItsFilesRunsAtOnce() throws IOException {
        assertEquals("hello world", run(null));
        Files.writeString(program.resolve("Greeting.java"), "class Greeting { static final String WORD = \"hi\"; }\n");
        assertEquals("hi world", run(null), "an edit to a source beside the script");
        Files.writeString(program.resolve("greeting.txt"), "there\n");
        assertEquals("hi there", run(null), "an edit to a file //FILES names");
        Files.writeString(program.resolve("Greeting.java"), "class Greeting { static final String WORD = \"hello\"; }\n");
        Files.writeString(program.resolve("greeting.txt"), "world\n");
        assertEquals("hello world", run(null), "back as it was");
    }

    @Test
    void aRemovedBuildIsBuiltAgain() throws IOException {
        assertEquals("hello world", run(null));
        Host.run("rm", "-rf", jbangDir.resolve("cache/jars").toString());
        assertEquals("hello world", run(null));
    }

    /** The attack: an answer planted where the launcher keeps them runs whatever it names, as whoever runs jbang. */
    @Test
    void anAnswerThisUserDidNotWriteIsNeverRun() throws IOException {
        assertEquals("hello world", run(null));
        Path answer;
        try (Stream<Path> kept = Files.list(answers)) {
            answer = kept.findFirst().orElseThrow();
        }
        Path marker = tmp.resolve("planted-answer-ran"), payload = tmp.resolve("payload");
        Files.writeString(payload, "#!/bin/sh\ntouch " + marker + "\n");
        assertEquals(0, Host.run("chmod", "755", payload.toString()).exit());
        Files.writeString(answer, payload + " -classpath " + tmp + " Main\n");

        assertEquals(0, Host.run("chown", "1000:1000", answer.toString()).exit());
        assertEquals("hello world", run(null), "JBang is asked instead");
        assertFalse(Files.exists(marker), "the planted answer ran");

        // the same answer, as this user's own: it runs (the check above is what stopped it)
        Files.writeString(answer, payload + " -classpath " + tmp + " Main\n");
        assertEquals(0, Host.run("chown", "0:0", answer.toString()).exit());
        run(null);
        assertTrue(Files.exists(marker), "an answer of this user's own is used");

        // ... but not from a directory others may write to: one of them could have put it there
        Files.delete(marker);
        Files.writeString(answer, payload + " -classpath " + tmp + " Main\n");
        assertEquals(0, Host.run("chmod", "777", answers.toString()).exit());
        assertEquals("hello world", run(null), "JBang is asked instead");
        assertFalse(Files.exists(marker), "an answer from a directory anyone may write to ran");
    }

    @Test
    void aScriptWhoseSourcesReachOutOfItsFolderAlwaysAsksJBang() throws IOException {
        Files.writeString(tmp.resolve("Greeting.java"), "class Greeting { static final String WORD = \"outside\"; }\n");
        Files.delete(program.resolve("Greeting.java"));
        Files.writeString(program.resolve("Main.java"), Files.readString(program.resolve("Main.java")).replace("//SOURCES Greeting.java", "//SOURCES ../Greeting.java"));
        assertEquals("outside world", run(null));
        Files.writeString(tmp.resolve("Greeting.java"), "class Greeting { static final String WORD = \"edited\"; }\n");
        assertEquals("edited world", run(null));
        assertFalse(Files.exists(answers) && Files.list(answers).findAny().isPresent(), "an answer was kept");
    }

    // ---------------------------------------------------------------- helpers

    /** A run of the program through jbang, as a user types it; with each JVM's class-loading logged in LOGS if given. */
    String run(Path logs, String... args) {
        List<String> command = new ArrayList<>(List.of("env", "JBANG_DIR=" + jbangDir));
        if (logs != null) command.add("JDK_JAVA_OPTIONS=-Xlog:class+load=info:file=" + logs + "/%p.log");
        command.addAll(List.of("jbang", program.resolve("Main.java").toString()));
        command.addAll(List.of(args));
        Stage.Result r = Host.run(tmp, Duration.ofMinutes(2), command);
        assertEquals(0, r.exit(), r::toString);
        return r.out().strip();
    }

    Path logs(String name) throws IOException {
        return Files.createDirectories(tmp.resolve("logs-" + name));
    }

    /** How many of the JVMs that logged into LOGS loaded a class whose name starts with PREFIX. */
    static long jvmsOf(Path logs, String prefix) throws IOException {
        try (Stream<Path> files = Files.list(logs)) {
            return files.filter(f -> {
                try {
                    return Files.readAllLines(f).stream().anyMatch(l -> l.contains("[class,load] " + prefix));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).count();
        }
    }
}

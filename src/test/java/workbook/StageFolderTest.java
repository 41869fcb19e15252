package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each stage is a folder that stands alone: Main.java names every other file of the folder in a
 * //SOURCES line (a file that is not Java, in a //FILES line) and nothing else, and a copy of
 * the folder builds anywhere on its own.
 */
class StageFolderTest {

    static Stream<String> stages() throws IOException {
        try (Stream<Path> dirs = Files.list(Stage.WORKBOOK.resolve("stages"))) {
            return dirs.map(d -> d.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("stages")
    void mainNamesEveryFileOfTheFolder(String stage) throws IOException {
        Path folder = Stage.WORKBOOK.resolve("stages").resolve(stage);
        Set<String> named = sourcesOf(folder.resolve("Main.java"));
        Set<String> present;
        try (Stream<Path> files = Files.list(folder)) {
            present = files.map(f -> f.getFileName().toString()).filter(n -> !n.equals("Main.java"))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        assertEquals(present, named, "the //SOURCES lines of " + stage + "/Main.java against the folder's files");
    }

    @ParameterizedTest
    @MethodSource("stages")
    void aCopyOfTheFolderAloneBuilds(String stage, @TempDir Path tmp) {
        Path copy = tmp.resolve(stage);
        Host.run("cp", "-r", Stage.WORKBOOK.resolve("stages").resolve(stage).toString(), copy.toString());
        // From the copy's own directory, so that nothing of the workbook is in reach.
        Stage.Result r = Host.run(copy, Duration.ofMinutes(5), List.of("jbang", "build", "Main.java"));
        assertEquals(0, r.exit(), () -> "jbang build of a lone copy of " + stage + ":\n" + r);
    }

    static Set<String> sourcesOf(Path main) throws IOException {
        try (Stream<String> lines = Files.lines(main)) {
            return lines.filter(l -> l.startsWith("//SOURCES ") || l.startsWith("//FILES ")).flatMap(l -> Stream.of(l.substring(l.indexOf(' ')).trim().split("\\s+")))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }
}

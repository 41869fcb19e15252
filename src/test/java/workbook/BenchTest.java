package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * scripts/bench, once through (one timed run of each), leaves nothing behind: not the stages'
 * things, and not Podman's or runc's either (their groups, their state directories), which they
 * would otherwise keep after their first run.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class BenchTest {

    @Test
    void oneRunOfTheBenchmarkMeasuresEveryStageAndLeavesNothingBehind(@TempDir Path out) throws IOException {
        Path jars = Path.of(System.getenv().getOrDefault("JBANG_DIR", System.getProperty("user.home") + "/.jbang"), "cache/jars");
        List<String> builds = builds(jars);
        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(10), List.of("scripts/bench", "1", "--out", out.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(4, Files.readAllLines(out.resolve("loop.csv")).size(), "the workshop loop: a header and three steps");
        assertEquals(builds, builds(jars), "JBang's builds of the edited copies are removed");
        List<String> rows = Files.readAllLines(out.resolve("startup.csv"));
        assertEquals(StageFolderTest.stages().toList(),
                rows.stream().skip(1).map(row -> row.split(",")[0]).toList(), "a row per stage");
        assertTrue(Files.readString(out.resolve("floors.csv")).contains("\npodman,"), "podman was not measured:\n" + r);
    }

    static List<String> builds(Path jars) throws IOException {
        try (Stream<Path> dirs = Files.list(jars)) {
            return dirs.map(d -> d.getFileName().toString()).sorted().toList();
        }
    }
}

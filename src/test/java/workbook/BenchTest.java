package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

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
        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(10), List.of("scripts/bench", "1", "--out", out.toString()));
        assertEquals(0, r.exit(), r::toString);
        List<String> rows = Files.readAllLines(out.resolve("startup.csv"));
        assertEquals(StageFolderTest.stages().toList(),
                rows.stream().skip(1).map(row -> row.split(",")[0]).toList(), "a row per stage");
        assertTrue(Files.readString(out.resolve("floors.csv")).contains("\npodman,"), "podman was not measured:\n" + r);
    }
}

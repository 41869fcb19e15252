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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * scripts/conformance, the OCI's own suite for runtimes, run here against runc: the programs
 * really drive it (runc passes hostname and state whole, as it does by hand), the table says
 * what the programs printed (counted again here from their TAP), and nothing of the suite's
 * bundles, mounts, cgroups or containers stays behind. The suite's source is where the
 * environment's RUNTIME_TOOLS says (CI sets it; a learner passes their clone to the script).
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class ConformanceTest {
    static final List<String> PROGRAMS = List.of("hostname", "state", "kill", "linux_uid_mappings");

    @Test
    void theSuiteScoresRuncProgramByProgramAndLeavesNothing(@TempDir Path logs) throws IOException {
        String source = System.getenv().getOrDefault("RUNTIME_TOOLS", "");
        assumeTrue(!source.isEmpty(), "RUNTIME_TOOLS names no runtime-tools source");
        if (!Files.isExecutable(Path.of("/usr/sbin/runc")))
            assertEquals(0, Host.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "runc").exit());

        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(10), List.of("scripts/conformance", "--source", source,
                "--only", String.join(",", PROGRAMS), "--logs", logs.toString(), "/usr/sbin/runc"));
        assertEquals(0, r.exit(), r::toString);

        int passed = 0;
        for (String program : PROGRAMS) {
            List<String> tap = Files.readAllLines(logs.resolve(program + ".0.tap"));
            long ok = tap.stream().filter(l -> l.matches("ok \\d+.*") && !l.toLowerCase().contains("# skip")).count();
            long skipped = tap.stream().filter(l -> l.matches("ok \\d+.*") && l.toLowerCase().contains("# skip")).count();
            long notOk = tap.stream().filter(l -> l.matches("not ok \\d+.*")).count();
            String row = r.out().lines().filter(l -> l.startsWith(program + " ")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
            assertTrue(row.matches(".*\\| " + ok + " / " + notOk + " / " + skipped + " (pass|FAIL|ERROR)\\s*"), () -> row + "\n" + tap);
            if (row.contains(" pass")) passed++;
        }
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("hostname ") && l.contains(" pass")), r::out);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("state ") && l.contains(" pass")), r::out);
        int whole = passed;
        assertTrue(r.out().lines().anyMatch(l -> l.matches("passed whole \\(of " + PROGRAMS.size() + "\\)\\s*\\| " + whole + "\\s*")), r::out);
    }
}

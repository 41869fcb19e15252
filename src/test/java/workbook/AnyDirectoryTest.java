package workbook;

import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A learner starts a stage from its own folder as often as from the workbook's root: the
 * default rootfs is the workbook's, wherever in the workbook the stage is started. Outside any
 * workbook, the stage says where it looked, in one line.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class AnyDirectoryTest {

    static Stream<String> stages() {
        return BadOptionsTest.ALL.stream();
    }

    @ParameterizedTest
    @MethodSource("stages")
    void aStageRunsFromItsOwnFolder(String stage) {
        String rootfs = stage.startsWith("01") ? " --rootfs" : ""; // stage 01's default is a jail of its own
        Stage.Result r;
        try (NetworkLab lab = NetworkLab.create()) {
            r = lab.onHost("sh", "-c", "cd stages/" + stage + " && exec jbang Main.java -q" + rootfs + " -- /bin/sh -c 'test -x /bin/busybox && echo inside'");
        }
        assertEquals(0, r.exit(), r::toString);
        assertEquals("inside", r.out().strip(), r::toString);
    }

    /**
     * By its path, from a directory outside the workbook: the workbook's jbang launcher names
     * the source (workbook.source), and the stage finds its workbook above it.
     */
    @Test
    void aStageRunsByItsPathFromAnyDirectory() {
        Stage.Result r = Host.run(java.nio.file.Path.of("/"), java.time.Duration.ofSeconds(60),
                java.util.List.of("jbang", Stage.WORKBOOK.resolve("stages/02-uts-pid/Main.java").toString(), "-q", "--",
                        "/bin/sh", "-c", "test -x /bin/busybox && echo inside"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("inside", r.out().strip(), r::toString);
    }

    /**
     * Another user's stages/ and rootfs/ above the current directory (in /tmp, anyone may make
     * them) are not the workbook: a root run there must not take their programs for the
     * container's. The stage passes them over, and takes its own workbook's, above its source.
     */
    @Test
    void aWorkbookAnotherUserPlantedAboveIsNotTaken(@org.junit.jupiter.api.io.TempDir java.nio.file.Path planted) throws java.io.IOException {
        java.nio.file.Files.createDirectories(planted.resolve("stages"));
        java.nio.file.Files.createDirectories(planted.resolve("rootfs/proc"));
        java.nio.file.Files.writeString(planted.resolve("rootfs/planted"), "");
        java.nio.file.Path below = java.nio.file.Files.createDirectories(planted.resolve("below"));
        assertEquals(0, Host.run("chown", "-R", "65534:65534", planted.toString()).exit());
        assertEquals(0, Host.run("chmod", "755", planted.toString()).exit());
        Stage.Result r = Host.run(below, java.time.Duration.ofSeconds(60),
                java.util.List.of("jbang", Stage.WORKBOOK.resolve("stages/02-uts-pid/Main.java").toString(), "-q", "--",
                        "/bin/sh", "-c", "! test -e /planted && test -x /bin/busybox && echo ours"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("ours", r.out().strip(), r::toString);
    }

    /**
     * A copy of a stage outside any workbook, run from outside any workbook, finds no rootfs:
     * it says where it looked, in one line. (The copy is built in a JBang cache of its own.)
     */
    @Test
    void outsideAnyWorkbookTheStageSaysWhereItLooked(@org.junit.jupiter.api.io.TempDir java.nio.file.Path elsewhere) throws java.io.IOException {
        java.nio.file.Path copy = elsewhere.resolve("02-uts-pid");
        assertEquals(0, Host.run("cp", "-r", Stage.WORKBOOK.resolve("stages/02-uts-pid").toString(), copy.toString()).exit());
        Stage.Result r = Host.run(java.nio.file.Path.of("/"), java.time.Duration.ofSeconds(120),
                java.util.List.of("env", "JBANG_DIR=" + elsewhere.resolve("jbang"), "jbang", copy.resolve("Main.java").toString(), "-q", "--", "/bin/true"));
        Failures.assertStageFailed(r, "02-uts-pid", "rootfs not found: rootfs, here or in a workbook above / or above " + copy);
    }
}

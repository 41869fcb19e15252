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
     * Another user's stages/ and rootfs/ above the current directory (in /tmp, anyone may make
     * them) are not the workbook: a root run there must not take their programs for the
     * container's. The stage refuses, and says where it looked.
     */
    @Test
    void aWorkbookAnotherUserPlantedAboveIsNotTaken(@org.junit.jupiter.api.io.TempDir java.nio.file.Path planted) throws java.io.IOException {
        java.nio.file.Files.createDirectories(planted.resolve("stages"));
        java.nio.file.Files.createDirectories(planted.resolve("rootfs/proc"));
        java.nio.file.Path below = java.nio.file.Files.createDirectories(planted.resolve("below"));
        assertEquals(0, Host.run("chown", "-R", "65534:65534", planted.toString()).exit());
        assertEquals(0, Host.run("chmod", "755", planted.toString()).exit());
        Stage.Result r = Host.run(below, java.time.Duration.ofSeconds(60),
                java.util.List.of("jbang", Stage.WORKBOOK.resolve("stages/02-uts-pid/Main.java").toString(), "-q", "--", "/bin/true"));
        Failures.assertStageFailed(r, "02-uts-pid", "rootfs not found: rootfs, here or in a workbook above " + below);
    }

    @Test
    void outsideAnyWorkbookTheStageSaysWhereItLooked() {
        Stage.Result r = Host.run(java.nio.file.Path.of("/"), java.time.Duration.ofSeconds(60),
                java.util.List.of("jbang", Stage.WORKBOOK.resolve("stages/02-uts-pid/Main.java").toString(), "-q", "--", "/bin/true"));
        Failures.assertStageFailed(r, "02-uts-pid", "rootfs not found: rootfs, here or in a workbook above /");
    }
}

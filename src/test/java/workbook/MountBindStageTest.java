package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

@RootOnly
@ExtendWith(NothingLeftBehind.class)
class MountBindStageTest {
    static final Stage STAGE = Stage.of("03-mount-bind");
    static final Duration START = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    @Test
    @Lesson("pivot-root")
    @DisplayName("the container's mount table holds only its root, its volume and /proc; the host's is unchanged")
    void mountsInsideNeverReachTheHostsMountTable() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Set<String> before = Set.copyOf(Host.mountinfo());
        try (Stage.Running running = STAGE.start("--volume", volume + ":/data", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            // The container has its own mounts: its root, the volume and /proc ...
            List<String> inside = Files.readAllLines(Path.of("/proc/" + init + "/mountinfo"));
            assertEquals(Set.of("/", "/data", "/proc"), mountPoints(inside));
            // ... and the host has none of them.
            assertEquals(before, Set.copyOf(Host.mountinfo()));
            running.end();
        }
    }

    @Test
    @Lesson("private")
    @DisplayName("mounts made inside stay inside, even when the host's mounts are shared")
    void mountsInsideStayInsideEvenWhenTheHostsMountsAreShared() throws Exception {
        // systemd makes / shared; this test makes a shared mount of its own and puts a rootfs on it.
        Path shared = Files.createDirectory(tmp.resolve("shared"));
        Host.run("mount", "--bind", shared.toString(), shared.toString());
        try {
            Host.run("mount", "--make-shared", shared.toString());
            Path rootfs = shared.resolve("rootfs");
            Host.run("cp", "-a", Stage.ROOTFS.toString(), rootfs.toString());
            Path volume = Files.createDirectory(shared.resolve("volume"));
            Set<String> before = Set.copyOf(Host.mountinfo());

            try (Stage.Running running = STAGE.start("--rootfs", rootfs.toString(), "--volume", volume + ":/data",
                    "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
                running.awaitOutput("ready", START);
                assertEquals(before, Set.copyOf(Host.mountinfo()), "no mount propagated to the host");
                running.end();
            }
        } finally {
            Host.run("umount", "--recursive", shared.toString());
        }
    }

    @Test
    @Lesson("volume")
    @DisplayName("a volume is the same directory on both sides")
    void aVolumeIsTheSameDirectoryOnBothSides() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Files.writeString(volume.resolve("from-host"), "written on the host\n");

        Stage.Result r = STAGE.run("--volume", volume + ":/data", "--", "/bin/sh", "-c", "cat /data/from-host; echo written inside > /data/from-container");

        assertEquals(0, r.exit(), r::toString);
        assertEquals("written on the host\n", r.out());
        assertEquals("written inside\n", Files.readString(volume.resolve("from-container")));
        assertFalse(Files.exists(Stage.ROOTFS.resolve("data")), "the mount point the stage made in the rootfs is removed");
    }

    @Test
    @Lesson("volume")
    @DisplayName("a read-only volume refuses writes (EROFS)")
    void aReadOnlyVolumeRefusesWrites() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Files.writeString(volume.resolve("readable"), "yes\n");

        Stage.Result r = STAGE.run("--volume", volume + ":/data:ro", "--", "/bin/sh", "-c", "cat /data/readable; echo no > /data/written");

        assertNotEquals(0, r.exit(), r::toString);
        assertEquals("yes\n", r.out());
        assertTrue(r.err().contains("Read-only file system"), r::toString); // EROFS
        assertFalse(Files.exists(volume.resolve("written")));
    }

    @Test
    @Lesson("pivot-root")
    @DisplayName("stage 01's escape no longer reaches the host")
    void stage01sEscapeNoLongerReachesTheHost() throws Exception {
        String token = "only-on-the-host-" + UUID.randomUUID();
        Path secret = Files.writeString(tmp.resolve("secret"), token);

        Stage.Result r = STAGE.run("--escape", "--", "/bin/sh", "-c", "cat " + secret + "; ls /");

        assertFalse(r.out().contains(token), r::toString);
        assertEquals(namesIn(Stage.ROOTFS), Set.copyOf(r.outLines()).stream().filter(n -> !n.equals("breakout")).collect(Collectors.toSet()));
        assertFalse(Files.exists(Stage.ROOTFS.resolve("breakout")), "the escape's directory is removed from the rootfs");
    }

    @Test
    @Lesson("volume")
    @DisplayName("exec sees the container's root and its volume")
    void execSeesTheContainersRootAndVolume() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Files.writeString(volume.resolve("marker"), "in the volume\n");
        try (Stage.Running running = STAGE.start("--volume", volume + ":/data", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);

            Stage.Result exec = STAGE.run("exec", Long.toString(running.child(START)), "--", "/bin/cat", "/data/marker");
            assertEquals("in the volume\n", exec.out(), exec::toString);
            running.end();
        }
    }

    @Test
    void theRunAfterACrashRemovesWhatTheCrashedParentLeft() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Path mountPoint = Stage.ROOTFS.resolve("crash-test");
        try (Stage.Running running = STAGE.start("--volume", volume + ":/crash-test", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            running.signal("KILL"); // the parent cleans nothing up ...
            running.finish(Duration.ofSeconds(30));
            assertTrue(Host.awaitGone(init, Duration.ofSeconds(60)), "the container dies with its parent");
            assertTrue(Files.isDirectory(mountPoint));

            Stage.Result next = STAGE.run("--", "/bin/true"); // ... the next run does
            assertEquals(0, next.exit(), next::toString);
            assertFalse(Files.exists(mountPoint));
        }
    }

    @Test
    void badVolumesAreClearErrorsAndCreateNothing() throws Exception {
        Set<String> rootfs = namesIn(Stage.ROOTFS);
        Path missing = tmp.resolve("missing");
        assertStageFailed(STAGE.run("--volume", "just-one-part", "--", "/bin/true"), "03-mount-bind", "expected HOST_DIR:CONTAINER_DIR");
        assertStageFailed(STAGE.run("--volume", tmp + ":/data:rw", "--", "/bin/true"), "03-mount-bind", "expected HOST_DIR:CONTAINER_DIR");
        assertStageFailed(STAGE.run("--volume", "relative:/data", "--", "/bin/true"), "03-mount-bind", "must be absolute");
        assertStageFailed(STAGE.run("--volume", missing + ":/data", "--", "/bin/true"), "03-mount-bind", "no such directory on the host");
        assertEquals(rootfs, namesIn(Stage.ROOTFS));
    }

    @Test
    void aCommandMissingFromTheContainerIsAClearError() {
        assertStageFailed(STAGE.run("--", "/no/such/command"), "03-mount-bind", "no such command in the container");
    }

    static Set<String> mountPoints(List<String> mountinfo) {
        return mountinfo.stream().map(l -> l.split(" ")[4]).collect(Collectors.toSet());
    }

    static Set<String> namesIn(Path dir) throws Exception {
        try (var entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(HashSet::new));
        }
    }
}

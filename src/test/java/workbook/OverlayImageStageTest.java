package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

/**
 * Stage 08: images, layers and copy-on-write. The image is read from the host as files (each
 * blob's sha256 against its name, each layer with tar); the overlay from the host as mounts
 * (the container's mountinfo, its upper directory, the layers' inodes). Runs are an ordinary
 * user's, in a store of the test's own; root's, which build stage 05's bridge, in a NetworkLab.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class OverlayImageStageTest {
    static final String NAME = "08-overlay-image";
    static final Stage STAGE = Stage.of(NAME);
    static final TestUser LEARNER = TestUser.LEARNER;
    static final Stage ROOTLESS = STAGE.as(LEARNER).limit(Duration.ofMinutes(3));
    static final Duration START = Duration.ofSeconds(90);
    static final String MOTD = "built by the workbook";

    @TempDir
    Path tmp;
    Path store;

    @BeforeEach
    void aStoreOfTheLearners() throws IOException {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        store = LEARNER.owns(Files.createDirectory(tmp.resolve("store")));
    }

    /** busybox (the rootfs) and busybox:motd (one more layer: /etc/motd added, /bin/vi removed), built as the learner. */
    void buildBothImages() throws IOException {
        Path motd = LEARNER.owns(Files.writeString(tmp.resolve("motd"), MOTD + "\n"));
        succeeds(ROOTLESS.run("-q", "build", "--store", store.toString(), "--tag", "busybox"));
        succeeds(ROOTLESS.run("-q", "build", "--store", store.toString(), "--from", "busybox",
                "--copy", motd + ":/etc/motd", "--remove", "/bin/vi", "--tag", "busybox:motd"));
    }

    static Stage.Result succeeds(Stage.Result r) {
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    Stage.Result runImage(String... args) {
        List<String> all = new ArrayList<>(List.of("-q", "--store", store.toString()));
        all.addAll(List.of(args));
        return ROOTLESS.run(all.toArray(String[]::new));
    }

    /** A blob of the store, as the host reads it. */
    Path blob(String digest) {
        return store.resolve("oci/blobs/sha256").resolve(digest.substring("sha256:".length()));
    }

    /** The digests of an image's layers, bottom first, found by following index.json and the manifest with grep's eyes. */
    List<String> layersOf(String image) {
        String index = Host.read(store.resolve("oci/index.json"));
        Matcher entry = Pattern.compile("\"digest\":\"(sha256:[0-9a-f]{64})\"[^}]*\\{\"org.opencontainers.image.ref.name\":\"" + Pattern.quote(image) + "\"").matcher(index);
        assertTrue(entry.find(), image + " in " + index);
        String manifest = Host.read(blob(entry.group(1)));
        String layers = manifest.substring(manifest.indexOf("\"layers\""));
        return Pattern.compile("sha256:[0-9a-f]{64}").matcher(layers).results().map(m -> m.group()).toList();
    }

    List<String> tarList(String layerDigest) {
        return Host.run("tar", "-tzf", blob(layerDigest).toString()).outLines();
    }

    /** How many containers' directories the store holds (none before the first run). */
    static int containersIn(Path store) {
        String[] names = store.resolve("containers").toFile().list();
        return names == null ? 0 : names.length;
    }

    Path layerDirOf(String file) throws IOException {
        try (Stream<Path> layers = Files.list(store.resolve("layers/sha256"))) {
            return layers.filter(l -> Files.exists(l.resolve(file))).findFirst().orElseThrow();
        }
    }

    @Test
    @Lesson("verify-blob")
    @AlsoAsLearner
    @DisplayName("every blob is named by its sha256, and an image with a changed byte is refused")
    void blobsAreNamedByTheirDigestAndChecked() throws IOException {
        buildBothImages();
        try (Stream<Path> blobs = Files.list(store.resolve("oci/blobs/sha256"))) {
            for (Path blob : blobs.toList())
                assertEquals(blob.getFileName().toString(), Host.run("sha256sum", blob.toString()).out().split(" ")[0], "sha256sum of " + blob);
        }
        String top = layersOf("busybox:motd").get(1);
        byte[] bytes = Files.readAllBytes(blob(top));
        bytes[bytes.length / 2] ^= 1;
        Files.write(blob(top), bytes);
        Stage.Result refused = runImage("--image", "busybox:motd", "--", "/bin/true");
        assertStageFailed(refused, NAME, "blob " + top + " is corrupt");
        assertEquals(0, containersIn(store), "nothing of the refused container is left");
    }

    @Test
    @Lesson("pack-entry")
    @AlsoAsLearner
    @DisplayName("a layer is a tar of the root, and --remove is a whiteout file in the layer on top")
    void layersAreTarsWithWhiteouts() throws IOException {
        buildBothImages();
        List<String> layers = layersOf("busybox:motd");
        assertEquals(2, layers.size(), layers::toString);
        assertEquals(layersOf("busybox").get(0), layers.get(0), "busybox:motd is built on busybox's layer, not a copy");
        List<String> base = tarList(layers.get(0));
        assertTrue(base.containsAll(List.of("bin/busybox", "bin/sh", "etc/passwd", "bin/vi")), base::toString);
        assertFalse(base.stream().anyMatch(n -> n.startsWith("dev/")), "no device files: " + base);
        List<String> top = tarList(layers.get(1));
        assertTrue(top.containsAll(List.of("etc/motd", "bin/.wh.vi")), top::toString);
        assertEquals(MOTD, Host.run("tar", "-xzOf", blob(layers.get(1)).toString(), "etc/motd").out().strip());
    }

    @Test
    @Lesson("mount-overlay")
    @AlsoAsLearner
    @DisplayName("the container sees the layers merged: the new file, and not the removed one")
    void theContainerSeesTheLayersMerged() throws IOException {
        buildBothImages();
        Stage.Result r = runImage("--image", "busybox:motd", "--", "/bin/sh", "-c", "cat /etc/motd; ls /bin/vi; echo x > /dev/null && echo null works");
        assertEquals(MOTD + "\nnull works", r.out().strip(), r::toString);
        assertTrue(r.err().contains("/bin/vi: No such file or directory"), r::toString);
    }

    @Test
    @Lesson("mount-overlay")
    @AlsoAsLearner
    @DisplayName("a change lands in the container's upper directory, and the layer's copy stays as it was")
    void changesGoToTheUpperDirectoryOnly() throws IOException {
        buildBothImages();
        succeeds(runImage("--image", "busybox:motd", "--keep", "--name", "c1", "--", "/bin/sh", "-c", "echo changed >> /etc/passwd && rm /bin/ls"));
        Path upper = store.resolve("containers/c1/upper");
        assertTrue(Files.readString(upper.resolve("etc/passwd")).endsWith("changed\n"), "the changed file, copied up");
        assertFalse(Files.readString(layerDirOf("etc/passwd").resolve("etc/passwd")).contains("changed"), "the layer's own copy");
        assertEquals("character special file 0 0", Host.run("stat", "-c", "%F %t %T", upper.resolve("bin/ls").toString()).out().strip(),
                "the removed file: a whiteout");
        assertTrue(Files.exists(layerDirOf("bin/ls").resolve("bin/ls")), "still in the layer");
        succeeds(ROOTLESS.run("-q", "rm", "--store", store.toString(), "c1"));
        assertFalse(Files.exists(store.resolve("containers/c1")));
    }

    @Test
    @Lesson("mount-overlay")
    @AlsoAsLearner
    @DisplayName("two containers of one image share the layers' files, inode for inode, and not their changes")
    void twoContainersShareTheLayersAndNotTheirChanges() throws IOException {
        buildBothImages();
        String wait = "echo $0 > /tmp/mine && echo ready; exec sleep 600";
        try (Stage.Running one = ROOTLESS.start("-q", "--store", store.toString(), "--image", "busybox", "--", "/bin/sh", "-c", wait, "one");
             Stage.Running two = ROOTLESS.start("-q", "--store", store.toString(), "--image", "busybox", "--", "/bin/sh", "-c", wait, "two")) {
            one.awaitOutput("ready", START);
            two.awaitOutput("ready", START);
            long first = one.container(START), second = two.container(START);
            String rootOfFirst = rootMount(first), rootOfSecond = rootMount(second);
            assertEquals(option(rootOfFirst, "lowerdir"), option(rootOfSecond, "lowerdir"), "the same layers");
            assertNotEquals(option(rootOfFirst, "upperdir"), option(rootOfSecond, "upperdir"), "an upper directory each");
            String inodeInStore = inode(layerDirOf("bin/busybox").resolve("bin/busybox"));
            assertEquals(inodeInStore, inode(Path.of("/proc/" + first + "/root/bin/busybox")), "the layer's own file");
            assertEquals(inodeInStore, inode(Path.of("/proc/" + second + "/root/bin/busybox")), "the layer's own file");
            assertEquals("one", Host.read(Path.of("/proc/" + first + "/root/tmp/mine")).strip());
            assertEquals("two", Host.read(Path.of("/proc/" + second + "/root/tmp/mine")).strip());
            assertFalse(Host.mountinfo().stream().anyMatch(l -> l.contains(store.toString())), "the overlay is the containers', not the host's");
            one.end();
            two.end();
        }
        assertEquals(0, containersIn(store), "their directories went with them");
    }

    static String rootMount(long pid) {
        return Host.read(Path.of("/proc/" + pid + "/mountinfo")).lines().filter(l -> l.split(" ")[4].equals("/")).findFirst().orElseThrow();
    }

    static String option(String mountinfoLine, String name) {
        Matcher m = Pattern.compile("[ ,]" + name + "=([^,]+)").matcher(mountinfoLine);
        assertTrue(m.find(), name + " in " + mountinfoLine);
        return m.group(1);
    }

    static String inode(Path file) {
        return Host.run("stat", "-L", "-c", "%i", file.toString()).out().strip();
    }

    @Test
    @Lesson("pack-entry")
    @AlsoAsLearner
    @DisplayName("commit makes the container's changes a layer, its deletions whiteouts, and the new image runs with them")
    void commitMakesTheChangesALayer() throws IOException {
        buildBothImages();
        succeeds(runImage("--image", "busybox:motd", "--keep", "--name", "c1", "--", "/bin/sh", "-c", "echo changed >> /etc/passwd && rm /bin/ls"));
        succeeds(ROOTLESS.run("-q", "commit", "--store", store.toString(), "c1", "--tag", "changed"));
        List<String> layers = layersOf("changed");
        assertEquals(3, layers.size(), layers::toString);
        List<String> top = tarList(layers.get(2));
        assertTrue(top.containsAll(List.of("etc/passwd", "bin/.wh.ls")), top::toString);
        Stage.Result r = runImage("--image", "changed", "--", "/bin/sh", "-c", "tail -1 /etc/passwd; ls /bin/ls /bin/vi");
        assertEquals("changed", r.out().strip(), r::toString);
        assertTrue(r.err().contains("/bin/ls: No such file") && r.err().contains("/bin/vi: No such file"), r::toString);
        succeeds(ROOTLESS.run("-q", "rm", "--store", store.toString(), "c1"));
    }

    @Test
    void rootUnpacksLayersWithTheirOwnersAndARecreatedDirectoryIsOpaque() throws IOException {
        Path rootStore = tmp.resolve("root-store");
        String s = rootStore.toString();
        try (NetworkLab lab = NetworkLab.create()) {
            Stage root = lab.stage(STAGE);
            succeeds(root.run("-q", "build", "--store", s, "--tag", "busybox"));
            Path motd = LEARNER.owns(Files.writeString(tmp.resolve("motd"), MOTD + "\n"));
            succeeds(root.run("-q", "build", "--store", s, "--from", "busybox", "--copy", motd + ":/etc/motd", "--tag", "owned"));
            succeeds(root.run("-q", "--store", s, "--image", "owned", "--", "/bin/true")); // unpacks the layer
            Stage.Result r = root.run("-q", "--store", s, "--image", "busybox", "--keep", "--name", "r1", "--", "/bin/sh", "-c",
                    "stat -c %u:%g /etc/passwd; grep ' / ' /proc/self/mountinfo; rm -rf /etc && mkdir /etc && echo x > /etc/new");
            assertEquals(0, r.exit(), r::toString);
            assertTrue(r.out().startsWith("0:0\n"), r::toString);
            assertTrue(r.out().contains(" - overlay overlay "), "the container's root is an overlay:\n" + r);
            succeeds(root.run("-q", "commit", "--store", s, "r1", "--tag", "fresh"));
            Stage.Result fresh = root.run("-q", "--store", s, "--image", "fresh", "--", "/bin/ls", "-A", "/etc");
            assertEquals("new", fresh.out().strip(), "the old /etc hidden by an opaque directory:\n" + fresh);
            succeeds(root.run("-q", "rm", "--store", s, "r1"));
        }
        store = rootStore;
        assertTrue(tarList(layersOf("fresh").get(1)).contains("etc/.wh..wh..opq"), "commit marks the directory opaque");
        assertEquals("0:0", Host.run("stat", "-c", "%u:%g", layerDirOf("etc/passwd").resolve("etc/passwd").toString()).out().strip());
        assertEquals(LEARNER.uid() + ":" + LEARNER.uid(), Host.run("stat", "-c", "%u:%g", layerDirOf("etc/motd").resolve("etc/motd").toString()).out().strip(),
                "a file the learner owned keeps its owner through the tar");
        assertFalse(Host.mountinfo().stream().anyMatch(l -> l.contains(rootStore.toString())));
        assertEquals(0, containersIn(rootStore), "the container's directories are gone");
    }

    @Test
    void aCrashedRunsContainerIsRemovedByTheNextRun() throws IOException {
        buildBothImages();
        try (Stage.Running running = ROOTLESS.start("-q", "--store", store.toString(), "--image", "busybox", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            running.signal("KILL");
            running.finish(START);
        }
        assertEquals(1, containersIn(store), "the killed run's directories");
        succeeds(runImage("--image", "busybox", "--", "/bin/true"));
        assertEquals(0, containersIn(store), "removed by the next run");
    }

    @Test
    void badImageOptionsAreRefusedBeforeAnythingIsMade() throws IOException {
        buildBothImages();
        String s = store.toString();
        assertStageFailed(ROOTLESS.run("--store", s, "--image", "nosuch"), NAME, "no image nosuch in " + s + "/oci (it has busybox, busybox:motd)");
        assertStageFailed(ROOTLESS.run("--store", s, "--keep"), NAME, "--keep and --name go with --image");
        assertStageFailed(ROOTLESS.run("--store", s, "--image", "busybox", "--name", "a/b"), NAME, "container name a/b: use letters");
        assertStageFailed(ROOTLESS.run("build", "--store", s, "--tag", "Busybox"), NAME, "--tag Busybox: use lower-case letters");
        assertStageFailed(ROOTLESS.run("build", "--store", s, "--from", "busybox", "--copy", "/no/such/file:/x", "--tag", "x"), NAME, "expected HOST_FILE:PATH");
        assertStageFailed(ROOTLESS.run("build", "--store", s, "--from", "busybox", "--remove", "etc/motd", "--tag", "x"), NAME, "give an absolute path in the image");
        assertStageFailed(ROOTLESS.run("build", "--store", s, "--from", "busybox", "--remove", "/no/such", "--tag", "x"), NAME, "--remove /no/such: the image has no such file");
        assertStageFailed(ROOTLESS.run("commit", "--store", s, "nosuch", "--tag", "x"), NAME, "no container nosuch in " + s + "/containers");
        assertEquals(List.of("busybox", "busybox:motd"), Pattern.compile("\"org.opencontainers.image.ref.name\":\"([^\"]+)\"")
                .matcher(Host.read(store.resolve("oci/index.json"))).results().map(m -> m.group(1)).toList(), "no image was made");
        assertEquals(0, containersIn(store), "no container");
    }
}

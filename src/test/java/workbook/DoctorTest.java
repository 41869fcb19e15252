package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/** scripts/doctor: every need of every stage, ✓ or ✗ with the fix, and nothing changed on the machine. */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class DoctorTest {
    static final List<String> NEEDS = List.of("root", "java 17 or newer", "jbang", "jbang's builds", "unshare", "nsenter", "setpriv", "ip",
            "iptables or nft", "uts namespace", "pid namespace", "ipc namespace", "mnt namespace", "net namespace",
            "user namespace", "cgroup namespace", "time namespace", "user namespaces", "cgroup version", "cpu controller",
            "memory controller", "pids controller", "veth and bridge", "busybox rootfs");

    @Test
    void onThisMachineEveryNeedIsMet() {
        Stage.Result r = Host.run("scripts/doctor");

        assertEquals(0, r.exit(), r::toString);
        for (String need : NEEDS) assertTrue(row(r, need).startsWith("✓"), () -> need + ":\n" + r.out());
        assertTrue(r.out().contains("doctor: everything the stages need is here"), r::out);
    }

    @Test
    void aMissingRootfsIsACrossWithTheStagesOwnWordsForTheFix() {
        Stage.Result r = Host.run("scripts/doctor", "--rootfs", "/no/such/rootfs");

        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ busybox rootfs 01-08 rootfs not found: /no/such/rootfs (run scripts/setup in the workbook, or pass --rootfs DIR)",
                row(r, "busybox rootfs"));
        assertTrue(r.out().contains("doctor: 1 need(s) not met"), r::out);
    }

    /**
     * A rootfs whose busybox was built for another processor (a workbook folder shared by an
     * amd64 VM and then an arm64 one): the same file with its ELF machine field (two bytes at
     * offset 18) set to the other architecture's. The doctor names it; the real one passes.
     */
    @Test
    void aRootfsBuiltForAnotherProcessorIsACross(@TempDir Path tmp) throws IOException {
        Path rootfs = tmp.resolve("rootfs");
        Files.createDirectories(rootfs.resolve("proc"));
        Files.createDirectories(rootfs.resolve("bin"));
        byte[] busybox = Files.readAllBytes(Stage.ROOTFS.resolve("bin/busybox"));
        int here = (busybox[18] & 0xff) | (busybox[19] & 0xff) << 8;
        int other = here == 62 ? 183 : 62; // EM_X86_64 and EM_AARCH64
        busybox[18] = (byte) other;
        busybox[19] = (byte) (other >> 8);
        Path foreign = Files.write(rootfs.resolve("bin/busybox"), busybox);
        foreign.toFile().setExecutable(true);

        Stage.Result r = Host.run("scripts/doctor", "--rootfs", rootfs.toString());

        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ busybox rootfs 01-08 " + foreign + " is built for another processor than this " + System.getProperty("os.arch").replace("amd64", "x86_64")
                + " (ELF machine " + other + "): sudo scripts/setup builds it anew", row(r, "busybox rootfs"));
        assertTrue(row(Host.run("scripts/doctor"), "busybox rootfs").startsWith("✓"), "the rootfs setup built");
    }

    @Test
    void anOrdinaryUserLearnsThatStages01To05NeedSudoAndThatStage06Works() {
        Stage.Result r = TestUser.LEARNER.runScript("scripts/doctor");

        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ root 01-05 you are uid 1000: run stages 01-05 with sudo (and sudo scripts/doctor to check what they need)", row(r, "root"));
        assertTrue(row(r, "user namespaces").startsWith("✓ user namespaces 06 an ordinary user may create them"), r::out);
        assertTrue(row(r, "veth and bridge").startsWith("✓"), r::out);
        assertTrue(row(r, "busybox rootfs").startsWith("✓"), r::out);
    }

    /**
     * A stage's jar in JBang's cache that lacks one of its classes, as two builds of one source
     * at once leave it (JBang's issue 2445), in a throwaway JBANG_DIR: the doctor names it and
     * the fix; the same jar whole passes.
     */
    @Test
    void aBuildThatLacksAClassIsFoundWithItsFix(@TempDir Path jbangDir) throws IOException {
        assertEquals(0, Stage.of("02-uts-pid").run("--help").exit()); // built, so in root's cache
        Path built;
        try (Stream<Path> jars = Files.list(Path.of(System.getenv().getOrDefault("JBANG_DIR", System.getProperty("user.home") + "/.jbang"), "cache/jars"))) {
            built = jars.map(d -> d.resolve("Main.jar")).filter(j -> Files.isRegularFile(j) && holds(j, BROKEN_AWAY))
                    .findFirst().orElseThrow();
        }
        Path whole = Files.createDirectories(jbangDir.resolve("cache/jars/Main.java.whole")).resolve("Main.jar");
        Files.copy(built, whole);
        Stage.Result good = Host.run("env", "JBANG_DIR=" + jbangDir, "scripts/doctor");
        assertTrue(row(good, "jbang's builds").startsWith("✓"), good::out);

        Path broken = Files.createDirectories(jbangDir.resolve("cache/jars/Main.java.broken")).resolve("Main.jar");
        try (ZipInputStream in = new ZipInputStream(Files.newInputStream(built));
             ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(broken))) {
            for (ZipEntry entry; (entry = in.getNextEntry()) != null; ) {
                if (entry.getName().equals(BROKEN_AWAY)) continue;
                out.putNextEntry(new ZipEntry(entry.getName()));
                in.transferTo(out);
            }
        }
        Stage.Result r = Host.run("env", "JBANG_DIR=" + jbangDir, "scripts/doctor");
        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ jbang's builds all a build lacks classes (two builds at once): rm -rf " + broken.getParent()
                + " (JBang builds it again)", row(r, "jbang's builds"));
    }

    static final String BROKEN_AWAY = "container/Narration$StageFailure.class";

    static boolean holds(Path jar, String entry) {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            return zip.getEntry(entry) != null;
        } catch (IOException e) {
            return false;
        }
    }

    /** The doctor's line for a need, with its columns' padding made single spaces. */
    static String row(Stage.Result r, String need) {
        return r.outLines().stream().map(l -> l.strip().replaceAll("\\s+", " "))
                .filter(l -> l.startsWith("✓ " + need + " ") || l.startsWith("✗ " + need + " ")).findFirst()
                .orElseThrow(() -> new AssertionError("no line for " + need + ":\n" + r.out()));
    }
}

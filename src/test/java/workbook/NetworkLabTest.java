package workbook;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A test's network lab goes with the JVM that made it: ended by SIGTERM in the middle of a test
 * (Maven stopped, CI cut short), the JVM closes the labs still open on its way out.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class NetworkLabTest {

    /** A JVM of the tests' own that opens a lab and keeps it, until it is ended. */
    static final class HoldsALab {
        public static void main(String[] args) throws Exception {
            NetworkLab.create();
            System.out.println("ready");
            Thread.sleep(600_000);
        }
    }

    /** Starts a JVM holding a lab; returns it once the lab is made. */
    static Process aJvmHoldingALab() throws Exception {
        Process jvm = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), HoldsALab.class.getName()).redirectErrorStream(true).start();
        String line = new BufferedReader(new InputStreamReader(jvm.getInputStream())).readLine();
        assertEquals("ready", line, "the JVM made no lab");
        return jvm;
    }

    static List<String> namespacesOf(long pid) {
        return Host.run("ip", "netns", "list").outLines().stream().map(l -> l.split(" ")[0])
                .filter(n -> n.startsWith("wbtest-" + pid + "-")).toList();
    }

    @Test
    void aJvmEndedBySigtermClosesItsLabs() throws Exception {
        Process jvm = aJvmHoldingALab();
        try {
            assertEquals(2, namespacesOf(jvm.pid()).size(), "the lab's two namespaces");
            jvm.destroy(); // SIGTERM
            assertTrue(jvm.waitFor(1, TimeUnit.MINUTES));
            assertEquals(List.of(), namespacesOf(jvm.pid()), "the lab outlived its JVM");
        } finally {
            jvm.destroyForcibly().waitFor();
            for (String ns : namespacesOf(jvm.pid())) Host.run("ip", "netns", "del", ns);
        }
    }
}

package workbook;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The course VM's Vagrantfile, checked by vagrant itself: every setting must exist, every
 * provisioner's options must be right. (--ignore-provider: no box and no hypervisor needed.)
 * Its provisioning script is scripts/provision, which scripts/vm-test runs in a guest of its own.
 */
class VagrantfileTest {
    @TempDir
    static Path vagrantState;

    @BeforeAll
    static void needsVagrant() {
        Assumptions.assumeTrue(Host.run("sh", "-c", "command -v vagrant").exit() == 0,
                "needs vagrant: sudo scripts/test installs it (Debian's package)");
    }

    @Test
    void vagrantValidatesIt() {
        Stage.Result r = validate("WORKBOOK_CPUS=2");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("Vagrantfile validated successfully."), r::toString);
    }

    @Test
    void aBadSettingIsRefusedWithItsName() {
        Stage.Result r = validate("WORKBOOK_CPUS=two");
        assertNotEquals(0, r.exit(), r::toString);
        assertTrue(r.all().contains("WORKBOOK_CPUS must be a number of CPUs, not two"), r::toString);
    }

    @Test
    void theVmIsProvisionedByTheScriptTheVmTestRuns() {
        String vagrantfile = Host.read(Stage.WORKBOOK.resolve("Vagrantfile"));
        assertTrue(vagrantfile.contains("inline: \"/workbook/scripts/provision\""), "the same provisioning as scripts/vm-test's");
        assertTrue(Host.read(Stage.WORKBOOK.resolve("scripts/vm-test")).contains("scripts/provision"), "scripts/vm-test provisions otherwise");
        assertTrue(vagrantfile.contains("\"/workbook\""), "the workbook at /workbook");
    }

    /** vagrant validate, keeping its own files (.vagrant/, ~/.vagrant.d) out of the workbook and the home. */
    static Stage.Result validate(String setting) {
        return Host.run(Stage.WORKBOOK, Duration.ofSeconds(120), List.of("env", setting,
                "VAGRANT_DOTFILE_PATH=" + vagrantState.resolve("dotfile"), "VAGRANT_HOME=" + vagrantState.resolve("home"),
                "VAGRANT_CHECKPOINT_DISABLE=1", // no version check over the network
                "vagrant", "validate", "--ignore-provider"));
    }
}

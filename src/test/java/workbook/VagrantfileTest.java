package workbook;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The course VM's Vagrantfile, checked by vagrant itself: every setting must exist, every
 * provisioner's options must be right. (--ignore-provider: no box and no hypervisor needed.)
 * Its provisioning script is scripts/setup, which every run of the suite runs on this machine.
 */
class VagrantfileTest {
    @TempDir
    static Path vagrantState;

    @BeforeAll
    static void needsVagrant() {
        Assumptions.assumeTrue(Host.run("sh", "-c", "command -v vagrant").exit() == 0,
                "needs vagrant: sudo scripts/test installs it (Debian's package)");
    }

    @ParameterizedTest(name = "WORKBOOK_CGROUP={0}")
    @ValueSource(strings = {"v2", "v1"})
    void vagrantValidatesIt(String cgroup) {
        Stage.Result r = validate("WORKBOOK_CGROUP=" + cgroup);
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("Vagrantfile validated successfully."), r::toString);
    }

    @Test
    void aBadSettingIsRefusedWithItsName() {
        Stage.Result r = validate("WORKBOOK_CGROUP=v3");
        assertNotEquals(0, r.exit(), r::toString);
        assertTrue(r.all().contains("WORKBOOK_CGROUP must be v1 or v2, not v3"), r::toString);
    }

    @Test
    void theVmIsProvisionedByScriptsSetupInPlace() {
        String vagrantfile = Host.read(Stage.WORKBOOK.resolve("Vagrantfile"));
        assertTrue(vagrantfile.contains("inline: \"/workbook/scripts/setup\""), "the same set-up as CI's");
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

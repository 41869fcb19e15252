/*
 * For HostileCommandTest: prints the effective uid it runs with. Made setuid-root inside a
 * container, it says whether another user running it from the host would become root.
 * Built static (the container's root has no C library): gcc -static -o euid euid.c
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("%d\n", (int) geteuid());
    return 0;
}

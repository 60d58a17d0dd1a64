/* Replays saved fuzz inputs through a fuzz target without libFuzzer: a plain C regression test.
 *
 * Tests/fuzz/run.sh links this file with each fuzz_<target>.c (no sanitizer, no libFuzzer) into
 * replay_<target> and runs it on Tests/fuzz/regressions/<target>/. Every file there is an input that
 * once crashed the library or broke a contract check; each is replayed in its own child process (a
 * crash must not hide the others), with a time limit. A file passes when the target returns normally.
 *
 * Usage: replay_<target> DIR_OR_FILE...   (README* files in a directory are skipped)
 * Prints "PASS name" / "FAILED name (reason)" per input and a summary; exits 1 if any failed.
 * A file's name up to the first '.' is the known-issue token run.sh passes in LOSSKIT_FUZZ_SKIP while
 * that regression still fails, so that fuzzing can explore past it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int passed, failed;

static int replay(const char *path, int argc, char **argv) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAILED %s (cannot open)\n", path);
        return 0;
    }
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;
    uint8_t chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (size + n > cap) {
            cap = (size + n) * 2;
            data = realloc(data, cap);
        }
        memcpy(data + size, chunk, n);
        size += n;
    }
    fclose(f);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120);
        if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
        /* A copy of exactly `size` bytes, as libFuzzer gives it. */
        uint8_t *copy = malloc(size ? size : 1);
        if (size) memcpy(copy, data, size);
        LLVMFuzzerTestOneInput(copy, size);
        free(copy);
        _exit(0);
    }
    free(data);
    int status = 0;
    waitpid(pid, &status, 0);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("PASS %s\n", name);
        return 1;
    }
    if (WIFSIGNALED(status))
        printf("FAILED %s (signal %d: %s)\n", name, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        printf("FAILED %s (exit status %d)\n", name, WEXITSTATUS(status));
    return 0;
}

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void replay_path(const char *path, int argc, char **argv) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        if (replay(path, argc, argv)) passed++; else failed++;
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) return;
    char **names = NULL;
    size_t count = 0, i;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
        names = realloc(names, (count + 1) * sizeof *names);
        names[count++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof *names, compare);
    for (i = 0; i < count; ++i) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        replay_path(full, argc, argv);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    int i;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; ++i) replay_path(argv[i], 1, argv);
    printf("regressions: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

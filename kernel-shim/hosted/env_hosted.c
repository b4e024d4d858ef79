/* The hosted environment: the shim's env.h over libc and pthreads, with
 * per-instance allocation counting and fault injection for tests. */
#define _GNU_SOURCE
#include <capdrv/shim.h>
#include <capdrv_shim/env.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct capdrv_env {
    pthread_mutex_t lock;
    struct capdrv_env_hosted_opts opts;
    unsigned long live_allocs;
    unsigned long fail_countdown; /* 0: off; 1: fail the next allocation */
};

struct capdrv_env *capdrv_env_hosted_new(const struct capdrv_env_hosted_opts *opts)
{
    struct capdrv_env *env = calloc(1, sizeof *env);
    if (!env)
        return NULL;
    if (pthread_mutex_init(&env->lock, NULL) != 0) {
        free(env);
        return NULL;
    }
    if (opts)
        env->opts = *opts;
    return env;
}

void capdrv_env_hosted_free(struct capdrv_env *env)
{
    if (!env)
        return;
    pthread_mutex_destroy(&env->lock);
    free(env);
}

void capdrv_env_hosted_fail_alloc(struct capdrv_env *env, unsigned long nth)
{
    __atomic_store_n(&env->fail_countdown, nth, __ATOMIC_RELAXED);
}

unsigned long capdrv_env_hosted_live_allocs(const struct capdrv_env *env)
{
    return __atomic_load_n(&env->live_allocs, __ATOMIC_RELAXED);
}

void *capdrv_env_alloc(struct capdrv_env *env, size_t size)
{
    unsigned long c = __atomic_load_n(&env->fail_countdown, __ATOMIC_RELAXED);
    if (c) {
        __atomic_store_n(&env->fail_countdown, c - 1, __ATOMIC_RELAXED);
        if (c == 1)
            return NULL;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        __atomic_add_fetch(&env->live_allocs, 1, __ATOMIC_RELAXED);
    return p;
}

void capdrv_env_free(struct capdrv_env *env, void *ptr)
{
    if (!ptr)
        return;
    __atomic_sub_fetch(&env->live_allocs, 1, __ATOMIC_RELAXED);
    free(ptr);
}

void capdrv_env_lock(struct capdrv_env *env)
{
    pthread_mutex_lock(&env->lock);
}

void capdrv_env_unlock(struct capdrv_env *env)
{
    pthread_mutex_unlock(&env->lock);
}

void capdrv_env_log(struct capdrv_env *env, enum capdrv_env_log_level level, const char *event,
                    uint64_t a, uint64_t b)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if ((int)level > env->opts.log_level)
        return;
    char line[160];
    snprintf(line, sizeof line, "capdrv level=%s event=%s a=%llu b=%llu",
             (unsigned)level < 4 ? names[level] : "?", event, (unsigned long long)a,
             (unsigned long long)b);
    if (env->opts.log)
        env->opts.log(env->opts.log_arg, (int)level, line);
    else
        fprintf(stderr, "%s\n", line);
}

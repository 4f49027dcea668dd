/*
 * privileges.h: the daemon's privilege drop (privileges.c), called once after start-up.
 */
#ifndef PMT_PRIVILEGES_H
#define PMT_PRIVILEGES_H

#include <node_api.h>

/* dropPrivileges(uid, gid, keep): see privileges.c. */
napi_value drop_privileges(napi_env env, napi_callback_info info);

#endif

/*
 * client_xattr.c - extended attributes and record appends: the
 * EP_SETXATTR .. EP_REMOVEXATTR and EP_APPEND calls of dfs_client.h, and
 * the base64 wire form of attribute values (OpenSSL's codec), which the
 * master uses too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "client_int.h"
#include "dfs_client.h"
#include "proto.h"
#include "xmalloc.h"
#include "banned.h"

/* Longest attribute value, as XATTR_SIZE_MAX. */
#define XATTR_VALUE_MAX 65536

char *dfs_xattr_encode(const void *buf, size_t len)
{
	char *text = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)text, buf, (int)len);
	return text;
}

int dfs_xattr_decode(const char *text, size_t max, void **out, size_t *len)
{
	size_t n = strlen(text), pad = 0;
	unsigned char *buf;
	int got;

	*out = NULL;
	*len = 0;
	if (n % 4 != 0)
		return -EINVAL;
	if (n / 4 * 3 > max + 2)
		return -ERANGE;
	if (n == 0)
		return 0;
	pad = (text[n - 1] == '=') + (text[n - 2] == '=');
	buf = xmalloc(n / 4 * 3 + 1);
	got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return -EINVAL;
	}
	*len = (size_t)got - pad;
	if (*len > max) {
		free(buf);
		*len = 0;
		return -ERANGE;
	}
	*out = buf;
	return 0;
}

int dfs_setxattr(struct dfs_client *c, uint64_t ino, const char *name,
		 const void *value, size_t len, int flags)
{
	json_t *req;
	char *text;
	int r;

	if (len > XATTR_VALUE_MAX)
		return -E2BIG;
	text = dfs_xattr_encode(value, len);
	req = json_pack("{s:I, s:s, s:s, s:i}", "ino", (json_int_t)ino, "name",
			name, "value", text, "flags", flags);
	free(text);
	if (req == NULL)
		return -EINVAL;
	/* A repeat is harmless unless it asks "create only". */
	r = client_master_call(c, EP_SETXATTR, req, NULL, flags == 0);
	json_decref(req);
	return r;
}

int dfs_getxattr(struct dfs_client *c, uint64_t ino, const char *name,
		 void **value, size_t *len)
{
	json_t *req, *reply = NULL;
	const char *text;
	int r;

	*value = NULL;
	*len = 0;
	req = json_pack("{s:I, s:s}", "ino", (json_int_t)ino, "name", name);
	if (req == NULL)
		return -EINVAL;
	if ((r = client_master_call(c, EP_GETXATTR, req, &reply, true)) != 0)
		goto out;
	if ((r = proto_get_str(reply, "value", XATTR_VALUE_MAX * 2, &text)))
		goto out;
	r = dfs_xattr_decode(text, XATTR_VALUE_MAX, value, len);
	if (r != 0)
		r = -EPROTO;
out:
	json_decref(reply);
	json_decref(req);
	return r;
}

int dfs_listxattr(struct dfs_client *c, uint64_t ino, char **names,
		  size_t *len)
{
	json_t *req, *reply = NULL, *arr, *v;
	size_t i, used = 0, n;
	char *buf = NULL;
	int r;

	*names = NULL;
	*len = 0;
	if ((req = json_pack("{s:I}", "ino", (json_int_t)ino)) == NULL)
		return -EINVAL;
	if ((r = client_master_call(c, EP_LISTXATTR, req, &reply, true)) != 0)
		goto out;
	arr = json_object_get(reply, "names");
	if (!json_is_array(arr)) {
		r = -EPROTO;
		goto out;
	}
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v)) {
			r = -EPROTO;
			goto out;
		}
		n = json_string_length(v) + 1;
		buf = xrealloc(buf, used + n);
		memcpy(buf + used, json_string_value(v), n);
		used += n;
	}
	*names = buf;
	*len = used;
	buf = NULL;
	r = 0;
out:
	free(buf);
	json_decref(reply);
	json_decref(req);
	return r;
}

int dfs_removexattr(struct dfs_client *c, uint64_t ino, const char *name)
{
	json_t *req;
	int r;

	req = json_pack("{s:I, s:s}", "ino", (json_int_t)ino, "name", name);
	if (req == NULL)
		return -EINVAL;
	/* Not idempotent: a repeat after a lost answer would say ENODATA. */
	r = client_master_call(c, EP_REMOVEXATTR, req, NULL, false);
	json_decref(req);
	return r;
}

int client_append(struct dfs_client *c, uint64_t ino, uint64_t len,
		  uint64_t *offset, struct dfs_attr *attr)
{
	json_t *req, *reply = NULL;
	int r;

	req = json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "length",
			(json_int_t)len);
	if (req == NULL)
		return -EINVAL;
	/* Never repeated after a send: a second reservation would leave a
	 * hole of zeros in the file. */
	if ((r = client_master_call(c, EP_APPEND, req, &reply, false)) != 0)
		goto out;
	if ((r = proto_get_u64(reply, "offset", UINT64_MAX, offset)) != 0 ||
	    (r = proto_attr_from_json(reply, attr)) != 0) {
		r = -EPROTO;
		goto out;
	}
	r = 0;
out:
	json_decref(reply);
	json_decref(req);
	return r;
}

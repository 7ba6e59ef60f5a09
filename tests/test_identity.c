/*
 * test_identity.c - the identity rules: normalisation, domains, aliases,
 * control characters and lengths, the service account's domain, and the
 * identity a token names.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "config.h"
#include "identity.h"
#include "result.h"
#include "secret.h"
#include "text.h"

/* The configurations the tables refer to. */
enum cfg_id {
  REJECT,    /* domains contoso.com, fabrikam.com; default contoso.com */
  RESOLVE,   /* the same with alias_policy = resolve */
  NODEFAULT, /* domains contoso.com; no default_domain */
  ANY,       /* no domains (any accepted); no default_domain */
  N_CFGS
};

/* Writable strings, as the configuration holds them. */
static char contoso[] = "contoso.com";
static char fabrikam[] = "fabrikam.com";
static char sales[] = "sales@contoso.com";
static char alice[] = "alice@contoso.com";
static char bob_old[] = "bob.old@contoso.com";
static char bob[] = "bob@contoso.com";
static char ext[] = "ext@contoso.com";
static char carol_bravo[] = "carol@bravo.com";

static char *domains_main[] = {contoso, fabrikam};
static char *domains_contoso[] = {contoso};
static struct msoauth_alias aliases[] = {
    {sales, alice},
    {bob_old, bob},
    {ext, carol_bravo}, /* a primary of a foreign domain */
};

/* Set in *identity_r before a call, to see that a failure clears it. */
static char unset[] = "unset";

static struct msoauth_identity_settings cfgs[N_CFGS];

static int setup(void **state) {
  (void)state;
  memset(cfgs, 0, sizeof(cfgs));
  for (int i = 0; i < N_CFGS; i++) {
    cfgs[i].aliases = aliases;
    cfgs[i].n_aliases = sizeof(aliases) / sizeof(aliases[0]);
    cfgs[i].alias_policy = MSOAUTH_ALIAS_REJECT;
  }
  cfgs[REJECT].domains = domains_main;
  cfgs[REJECT].n_domains = 2;
  cfgs[REJECT].default_domain = contoso;
  cfgs[RESOLVE] = cfgs[REJECT];
  cfgs[RESOLVE].alias_policy = MSOAUTH_ALIAS_RESOLVE;
  cfgs[NODEFAULT].domains = domains_contoso;
  cfgs[NODEFAULT].n_domains = 1;
  return 0;
}

/* A detail must never carry a raw control byte into a log line. */
static void assert_printable(const char *s) {
  for (; *s != '\0'; s++) {
    assert_true((unsigned char)*s >= 0x20);
    assert_true((unsigned char)*s != 0x7f);
  }
}

struct name_case {
  const char *name;
  size_t len; /* bytes of name, so an embedded NUL is seen */
  enum cfg_id cfg;
  msoauth_rc rc;
  const char *want; /* the identity on success, else a part of the detail */
};

/* A string literal with its length, embedded NULs included. */
#define N(s) s, sizeof(s) - 1

static const struct name_case name_cases[] = {
    /* rule 1: trimmed, lowercased, default_domain */
    {N("alice@contoso.com"), REJECT, MSOAUTH_OK, "alice@contoso.com"},
    {N("Alice@Contoso.COM"), REJECT, MSOAUTH_OK, "alice@contoso.com"},
    {N("  alice@contoso.com  "), REJECT, MSOAUTH_OK, "alice@contoso.com"},
    {N(" ALICE "), REJECT, MSOAUTH_OK, "alice@contoso.com"},
    {N("alice"), REJECT, MSOAUTH_OK, "alice@contoso.com"},
    {N("alice"), NODEFAULT, MSOAUTH_ERR_DOMAIN, "no default_domain"},
    {N("alice"), ANY, MSOAUTH_ERR_DOMAIN, "no default_domain"},
    {N("a-b.c_d+tag@contoso.com"), REJECT, MSOAUTH_OK,
     "a-b.c_d+tag@contoso.com"},
    /* rule 2: domains */
    {N("alice@fabrikam.com"), REJECT, MSOAUTH_OK, "alice@fabrikam.com"},
    {N("alice@bravo.com"), REJECT, MSOAUTH_ERR_DOMAIN, "bravo.com"},
    {N("alice@eu.contoso.com"), REJECT, MSOAUTH_ERR_DOMAIN, "eu.contoso.com"},
    {N("alice@contoso.com.evil.net"), REJECT, MSOAUTH_ERR_DOMAIN,
     "contoso.com.evil.net"},
    {N("alice@fabrikam.com"), NODEFAULT, MSOAUTH_ERR_DOMAIN, "fabrikam.com"},
    {N("alice@bravo.com"), ANY, MSOAUTH_OK, "alice@bravo.com"},
    {N("Alice@Sub.Bravo.co.uk"), ANY, MSOAUTH_OK, "alice@sub.bravo.co.uk"},
    {N("alice@123.com"), ANY, MSOAUTH_OK, "alice@123.com"},
    {N("alice@xn--bcher-kva.example"), ANY, MSOAUTH_OK,
     "alice@xn--bcher-kva.example"},
    /* rule 3: aliases_file */
    {N("sales@contoso.com"), REJECT, MSOAUTH_ERR_ALIAS,
     "sign in as alice@contoso.com"},
    {N("SALES@Contoso.com"), REJECT, MSOAUTH_ERR_ALIAS, "alice@contoso.com"},
    {N(" sales "), REJECT, MSOAUTH_ERR_ALIAS, "alice@contoso.com"},
    {N("sales@contoso.com"), RESOLVE, MSOAUTH_OK, "alice@contoso.com"},
    {N("Sales@CONTOSO.com"), RESOLVE, MSOAUTH_OK, "alice@contoso.com"},
    {N("bob.old"), RESOLVE, MSOAUTH_OK, "bob@contoso.com"},
    {N("ext@contoso.com"), RESOLVE, MSOAUTH_ERR_DOMAIN, "bravo.com"},
    {N("alice@contoso.com"), RESOLVE, MSOAUTH_OK, "alice@contoso.com"},
    /* rule 4: control characters, before anything else */
    {N("al\x01ice@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("alice@contoso.com\r"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("alice@contoso.com\n"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("alice\r\n@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("al\tice@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("\talice"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("alice\0@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("alice@contoso.com\0"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("\0"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("ali\x7f@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("sales@contoso.com\n"), REJECT, MSOAUTH_ERR_NAME, "control"},
    {N("\302\205alice@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "control"},
    /* empty */
    {N(""), REJECT, MSOAUTH_ERR_NAME, "empty user name"},
    {N("    "), REJECT, MSOAUTH_ERR_NAME, "empty user name"},
    /* syntax of the address */
    {N("alice@@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "exactly one '@'"},
    {N("alice@contoso.com@contoso.com"), REJECT, MSOAUTH_ERR_NAME,
     "exactly one '@'"},
    {N("@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "empty local part"},
    {N("alice@"), REJECT, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@contoso"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@-contoso.com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@contoso-.com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@contoso..com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@.contoso.com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@contoso.com."), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@con_toso.com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@ contoso.com"), ANY, MSOAUTH_ERR_NAME, "malformed domain"},
    {N("alice@b\303\274cher.example"), ANY, MSOAUTH_ERR_NAME,
     "malformed domain"},
    {N("al ice@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "spaces"},
    {N("alice @contoso.com"), REJECT, MSOAUTH_ERR_NAME, "spaces"},
    /* UTF-8 */
    {N("\xff@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("alic\xc3@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("alice\xe2\x82"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("\xc0\xaf@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("\xed\xa0\x80@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("\xf5\x80\x80\x80@contoso.com"), REJECT, MSOAUTH_ERR_NAME, "UTF-8"},
    {N("jos\xc3\xa9@contoso.com"), REJECT, MSOAUTH_OK,
     "jos\xc3\xa9@contoso.com"},
    /* only ASCII letters are lowered: the E with acute stays as it is */
    {N("JOS\xc3\x89@Contoso.com"), REJECT, MSOAUTH_OK,
     "jos\xc3\x89@contoso.com"},
    {N("\xe7\x8e\x8b"), REJECT, MSOAUTH_OK, "\xe7\x8e\x8b@contoso.com"},
};

static void test_normalize_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
    const struct name_case *c = &name_cases[i];
    struct msoauth_err err;
    char *id = unset;
    msoauth_rc rc;

    msoauth_err_clear(&err);
    rc = msoauth_identity_normalize(&cfgs[c->cfg], c->name, c->len, &id, &err);
    if (rc != c->rc)
      fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, err.detail);
    if (c->rc == MSOAUTH_OK) {
      assert_non_null(id);
      assert_string_equal(id, c->want);
    } else {
      assert_null(id);
      assert_int_equal(err.rc, c->rc);
      if (strstr(err.detail, c->want) == NULL)
        fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, err.detail,
                 c->want);
      assert_printable(err.detail);
    }
    free(id);
  }
}

struct length_case {
  size_t local; /* bytes of the local part */
  int domain;   /* whether "@contoso.com" is given (else the default) */
  msoauth_rc rc;
};

/* "@contoso.com" is 12 bytes: 244 + 12 = 256. */
static const struct length_case length_cases[] = {
    {244, 1, MSOAUTH_OK},       /* 256 bytes */
    {245, 1, MSOAUTH_ERR_NAME}, /* 257 bytes */
    {300, 1, MSOAUTH_ERR_NAME},
    {244, 0, MSOAUTH_OK},       /* 256 after default_domain */
    {245, 0, MSOAUTH_ERR_NAME}, /* 257 after default_domain */
    {250, 0, MSOAUTH_ERR_NAME},
    {256, 0, MSOAUTH_ERR_NAME}, /* 256 bare: too long with the domain */
    {257, 0, MSOAUTH_ERR_NAME},
};

static void test_normalize_lengths(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
    const struct length_case *c = &length_cases[i];
    char name[400];
    size_t len = c->local;
    struct msoauth_err err;
    char *id = NULL;
    msoauth_rc rc;

    memset(name, 'a', c->local);
    if (c->domain) {
      memcpy(name + len, "@contoso.com", 12);
      len += 12;
    }
    name[len] = '\0';
    msoauth_err_clear(&err);
    rc = msoauth_identity_normalize(&cfgs[REJECT], name, len, &id, &err);
    if (rc != c->rc)
      fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, err.detail);
    if (rc == MSOAUTH_OK) {
      assert_int_equal(strlen(id), MSOAUTH_NAME_MAX);
      assert_memory_equal(id + c->local, "@contoso.com", 13);
    } else {
      assert_null(id);
      assert_non_null(strstr(err.detail, "longer than 256"));
    }
    free(id);
  }
}

/* Spaces around a name count towards the raw length (rule 4 comes first),
 * and the error path works without an err. */
static void test_normalize_edges(void **state) {
  char name[260];
  char *id = NULL;

  (void)state;
  memset(name, ' ', sizeof(name));
  memcpy(name + 10, "alice@contoso.com", 17);
  assert_int_equal(
      msoauth_identity_normalize(&cfgs[REJECT], name, sizeof(name), &id, NULL),
      MSOAUTH_ERR_NAME);
  assert_null(id);
  assert_int_equal(
      msoauth_identity_normalize(&cfgs[REJECT], name, 40, &id, NULL),
      MSOAUTH_OK);
  assert_string_equal(id, "alice@contoso.com");
  free(id);
  id = NULL;
  assert_int_equal(
      msoauth_identity_normalize(&cfgs[REJECT], NULL, 0, &id, NULL),
      MSOAUTH_ERR_NAME);
  assert_null(id);
  assert_int_equal(
      msoauth_identity_normalize(NULL, "alice@contoso.com", 17, &id, NULL),
      MSOAUTH_ERR_INVALID);
  assert_null(id);
}

/* The primary address survives the cap of the detail line, however long
 * the alias. */
static void test_alias_detail_long(void **state) {
  char alias[257], primary[200];
  struct msoauth_alias one;
  struct msoauth_identity_settings cfg;
  struct msoauth_err err;
  char *id = NULL;

  (void)state;
  memset(alias, 'x', 244);
  memcpy(alias + 244, "@contoso.com", 13);
  memset(primary, 'p', 187);
  memcpy(primary + 187, "@contoso.com", 13);
  one.alias = alias;
  one.primary = primary;
  cfg = cfgs[REJECT];
  cfg.aliases = &one;
  cfg.n_aliases = 1;
  assert_int_equal(
      msoauth_identity_normalize(&cfg, alias, strlen(alias), &id, &err),
      MSOAUTH_ERR_ALIAS);
  assert_null(id);
  assert_non_null(strstr(err.detail, primary));
  cfg.alias_policy = MSOAUTH_ALIAS_RESOLVE;
  assert_int_equal(
      msoauth_identity_normalize(&cfg, alias, strlen(alias), &id, &err),
      MSOAUTH_OK);
  assert_string_equal(id, primary);
  free(id);
}

/* With resolve, what the aliases file yields obeys the rules too. */
static void test_alias_primary_checked(void **state) {
  static char al[] = "old@contoso.com";
  static char upper[] = "New@Contoso.COM";
  static char bad[] = "new@@contoso.com";
  static char ctl[] = "new\n@contoso.com";
  struct {
    char *primary;
    msoauth_rc rc;
  } cases[] = {
      {upper, MSOAUTH_OK},
      {bad, MSOAUTH_ERR_CONFIG},
      {ctl, MSOAUTH_ERR_CONFIG},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_alias one = {al, cases[i].primary};
    struct msoauth_identity_settings cfg = cfgs[RESOLVE];
    struct msoauth_err err;
    char *id = NULL;

    cfg.aliases = &one;
    cfg.n_aliases = 1;
    msoauth_err_clear(&err);
    assert_int_equal(msoauth_identity_normalize(&cfg, "old", 3, &id, &err),
                     cases[i].rc);
    if (cases[i].rc == MSOAUTH_OK) {
      assert_string_equal(id, "new@contoso.com");
    } else {
      assert_null(id);
      assert_non_null(strstr(err.detail, "aliases_file"));
      assert_printable(err.detail);
    }
    free(id);
  }
}

struct service_case {
  const char *service_account; /* NULL: none configured */
  const char *target;
  msoauth_rc rc;
  const char *detail; /* a part of the detail on failure */
};

static const struct service_case service_cases[] = {
    {"svc@contoso.com", "carol@contoso.com", MSOAUTH_OK, NULL},
    {"svc@contoso.com", "Carol@CONTOSO.COM", MSOAUTH_OK, NULL},
    {"svc@CONTOSO.com", "carol@contoso.com", MSOAUTH_OK, NULL},
    {"svc@contoso.com", "carol@bravo.com", MSOAUTH_ERR_CROSS_DOMAIN,
     "credentials of svc@contoso.com cannot act for carol@bravo.com"},
    {"svc@contoso.com", "carol@a.contoso.com", MSOAUTH_ERR_CROSS_DOMAIN,
     "another domain"},
    {"svc@a.contoso.com", "carol@contoso.com", MSOAUTH_ERR_CROSS_DOMAIN,
     "carol@contoso.com"},
    {"svc@contoso.com", "carol@contoso.co", MSOAUTH_ERR_CROSS_DOMAIN,
     "contoso.co "},
    {"svc@contoso.com", "carol@contoso.com.evil.net", MSOAUTH_ERR_CROSS_DOMAIN,
     "evil.net"},
    {"svc@contoso.com", "carol", MSOAUTH_ERR_NAME, "no domain"},
    {"svc@contoso.com", NULL, MSOAUTH_ERR_NAME, "no domain"},
    {"svc", "carol@contoso.com", MSOAUTH_ERR_CONFIG, "no domain"},
    {NULL, "carol@contoso.com", MSOAUTH_ERR_CONFIG, "service_account"},
};

static void test_service_domain(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(service_cases) / sizeof(service_cases[0]);
       i++) {
    const struct service_case *c = &service_cases[i];
    struct msoauth_identity_settings cfg = cfgs[ANY];
    char *service_account = NULL;
    struct msoauth_err err;
    msoauth_rc rc;

    if (c->service_account != NULL) {
      service_account = strdup(c->service_account);
      assert_non_null(service_account);
    }
    cfg.service_account = service_account;
    msoauth_err_clear(&err);
    rc = msoauth_identity_check_service(&cfg, c->target, &err);
    free(service_account);
    if (rc != c->rc)
      fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, err.detail);
    if (rc != MSOAUTH_OK && strstr(err.detail, c->detail) == NULL)
      fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, err.detail,
               c->detail);
  }
}

/* The chain token.c runs: a bare name completed, then the service rule. */
static void test_service_after_normalize(void **state) {
  static char svc[] = "svc@contoso.com";
  struct msoauth_identity_settings cfg = cfgs[ANY];
  struct msoauth_err err;
  char *id = NULL;

  (void)state;
  cfg.default_domain = contoso;
  cfg.service_account = svc;
  assert_int_equal(msoauth_identity_normalize(&cfg, " Carol ", 7, &id, &err),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_identity_check_service(&cfg, id, &err), MSOAUTH_OK);
  free(id);
  id = NULL;
  assert_int_equal(
      msoauth_identity_normalize(&cfg, "Carol@Bravo.com", 15, &id, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_identity_check_service(&cfg, id, &err),
                   MSOAUTH_ERR_CROSS_DOMAIN);
  assert_non_null(strstr(err.detail, "carol@bravo.com"));
  free(id);
}

struct match_case {
  enum cfg_id cfg;
  const char *asked;
  const char *token_name;
  msoauth_rc rc;
  const char *want; /* the identity on success, else a part of the detail */
};

static const struct match_case match_cases[] = {
    {REJECT, "alice@contoso.com", "alice@contoso.com", MSOAUTH_OK,
     "alice@contoso.com"},
    {REJECT, "alice@contoso.com", "Alice@Contoso.COM", MSOAUTH_OK,
     "alice@contoso.com"},
    {REJECT, "alice@contoso.com", " alice@contoso.com ", MSOAUTH_OK,
     "alice@contoso.com"},
    {REJECT, "alice@contoso.com", NULL, MSOAUTH_OK, "alice@contoso.com"},
    {RESOLVE, "alice@contoso.com", NULL, MSOAUTH_OK, "alice@contoso.com"},
    {REJECT, "sales@contoso.com", "alice@contoso.com", MSOAUTH_ERR_ALIAS,
     "sales@contoso.com is an alias: sign in as alice@contoso.com"},
    {REJECT, "sales@contoso.com", "Alice@Contoso.com", MSOAUTH_ERR_ALIAS,
     "sign in as alice@contoso.com"},
    {RESOLVE, "sales@contoso.com", "alice@contoso.com", MSOAUTH_OK,
     "alice@contoso.com"},
    {RESOLVE, "sales@contoso.com", " Alice@FABRIKAM.com ", MSOAUTH_OK,
     "alice@fabrikam.com"},
    {RESOLVE, "sales@contoso.com", "carol@bravo.com", MSOAUTH_ERR_DOMAIN,
     "bravo.com"},
    {NODEFAULT, "sales@contoso.com", "alice@fabrikam.com", MSOAUTH_ERR_ALIAS,
     "alice@fabrikam.com"},
    {ANY, "sales@contoso.com", "carol@bravo.com", MSOAUTH_ERR_ALIAS,
     "carol@bravo.com"},
    {RESOLVE, "sales@contoso.com", "ali\nce@contoso.com", MSOAUTH_ERR_NAME,
     "control"},
    {REJECT, "sales@contoso.com", "alice@contoso.com\r", MSOAUTH_ERR_NAME,
     "control"},
    {RESOLVE, "sales@contoso.com", "alice", MSOAUTH_ERR_NAME,
     "exactly one '@'"},
    {RESOLVE, "sales@contoso.com", "alice@contoso", MSOAUTH_ERR_NAME,
     "malformed domain"},
    {RESOLVE, "sales@contoso.com", "", MSOAUTH_ERR_NAME, "empty"},
    {RESOLVE, "sales@contoso.com", "\xff@contoso.com", MSOAUTH_ERR_NAME,
     "UTF-8"},
};

static void test_match_token(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
    const struct match_case *c = &match_cases[i];
    struct msoauth_err err;
    char *id = unset;
    msoauth_rc rc;

    msoauth_err_clear(&err);
    rc = msoauth_identity_match_token(&cfgs[c->cfg], c->asked, c->token_name,
                                      &id, &err);
    if (rc != c->rc)
      fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, err.detail);
    if (rc == MSOAUTH_OK) {
      assert_string_equal(id, c->want);
      assert_ptr_not_equal(id, c->asked); /* a copy the caller owns */
    } else {
      assert_null(id);
      if (strstr(err.detail, c->want) == NULL)
        fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, err.detail,
                 c->want);
      assert_printable(err.detail);
    }
    free(id);
  }
}

/* A token naming a primary longer than the limit is refused on resolve. */
static void test_match_token_long(void **state) {
  char name[300];
  char *id = NULL;

  (void)state;
  memset(name, 'a', sizeof(name));
  memcpy(name + sizeof(name) - 13, "@contoso.com", 13);
  assert_int_equal(msoauth_identity_match_token(
                       &cfgs[RESOLVE], "sales@contoso.com", name, &id, NULL),
                   MSOAUTH_ERR_NAME);
  assert_null(id);
}

static void test_domain(void **state) {
  (void)state;
  assert_string_equal(msoauth_identity_domain("alice@contoso.com"),
                      "contoso.com");
  assert_string_equal(msoauth_identity_domain("a@b@c.com"), "c.com");
  assert_string_equal(msoauth_identity_domain("alice@"), "");
  assert_null(msoauth_identity_domain("alice"));
  assert_null(msoauth_identity_domain(NULL));
}

/* Names as log lines show them. */
static void test_shown(void **state) {
  static const struct {
    const char *name, *shown;
  } table[] = {
      {"alice@contoso.com", "alice@contoso.com"},
      {"j\xc3\xbcrgen@contoso.com", "j\xc3\xbcrgen@contoso.com"},
      {"alice\r\n@contoso.com", "alice??@contoso.com"},
      {"a\x01\x1b\x7f", "a???"},
      {"a\xc2\x85"
       "b\xc2\x9b",
       "a?b?"},                                   /* C1: NEL, CSI */
      {"\xff\xfe@x", "??@x"},                     /* invalid bytes */
      {"a\xc0\xae", "a??"},                       /* overlong */
      {"a\xed\xa0\x80", "a???"},                  /* surrogate */
      {"a\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80"}, /* U+1F600 */
      {"a\xf0\x9f\x98", "a???"},                  /* truncated */
  };
  char out[32];

  (void)state;
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    msoauth_text_shown(table[i].name, out, sizeof(out));
    assert_string_equal(out, table[i].shown);
  }
  msoauth_text_shown(NULL, out, sizeof(out));
  assert_string_equal(out, "(none)");
  /* Cut at size - 4 bytes, never inside a character. */
  msoauth_text_shown("0123456789012345678901234567", out, sizeof(out));
  assert_string_equal(out, "0123456789012345678901234567");
  msoauth_text_shown("01234567890123456789012345678", out, sizeof(out));
  assert_string_equal(out, "0123456789012345678901234567...");
  msoauth_text_shown("012345678901234567890123456\xc3\xbc", out,
                     sizeof(out));
  assert_string_equal(out, "012345678901234567890123456...");
}

/* ------------------------------------------------------------ tokens */

#define TID "7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00"
#define OTHER_TID "9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f"
#define CLIENT "11111111-1111-1111-1111-111111111111"
#define RS256 "{\"typ\":\"JWT\",\"alg\":\"RS256\"}"

/* HEADER.PAYLOAD.SIG from JSON texts, as a secret (NULL for NULL). */
static struct msoauth_secret *jwt(const char *header, const char *payload) {
  struct msoauth_secret *secret = NULL;
  struct msoauth_buf buf;

  if (header == NULL)
    return NULL;
  msoauth_buf_init(&buf, 64 * 1024, 0);
  if (payload == NULL) { /* an opaque token */
    assert_int_equal(msoauth_buf_adds(&buf, header), MSOAUTH_OK);
  } else {
    assert_int_equal(msoauth_base64_encode(&buf, header, strlen(header), 1),
                     MSOAUTH_OK);
    assert_int_equal(msoauth_buf_adds(&buf, "."), MSOAUTH_OK);
    assert_int_equal(msoauth_base64_encode(&buf, payload, strlen(payload), 1),
                     MSOAUTH_OK);
    assert_int_equal(msoauth_buf_adds(&buf, ".c2ln"), MSOAUTH_OK);
  }
  assert_int_equal(msoauth_secret_from_str(msoauth_buf_str(&buf), &secret),
                   MSOAUTH_OK);
  msoauth_buf_free(&buf);
  return secret;
}

struct tokens_case {
  const char *tenant;
  const char *id_header, *id_payload; /* NULL header: no id token */
  const char *at_header, *at_payload; /* NULL payload: opaque */
  msoauth_rc rc;
  const char *want; /* the identity on success, else a part of the detail */
};

#define ID_OK                                                                  \
  "{\"aud\":\"" CLIENT "\",\"tid\":\"" TID "\","                              \
  "\"preferred_username\":\"Alice@Contoso.com\"}"
#define AT_OK "{\"aud\":\"https://outlook.office.com\",\"tid\":\"" TID "\"}"

static const struct tokens_case tokens_cases[] = {
    {TID, RS256, ID_OK, RS256, AT_OK, MSOAUTH_OK, "alice@contoso.com"},
    {"contoso.com", RS256, ID_OK, "EwBopaque", NULL, MSOAUTH_OK,
     "alice@contoso.com"},
    /* the tenant id is compared without regard to case */
    {"7F0D5B1E-3C2A-4E8B-9A61-2B5C8D4E1F00", RS256, ID_OK, RS256, AT_OK,
     MSOAUTH_OK, "alice@contoso.com"},
    /* fail closed: nothing says whom the tokens are for */
    {TID, NULL, NULL, "EwBopaque", NULL, MSOAUTH_ERR_NO_IDENTITY,
     "no id token"},
    {"contoso.com", NULL, NULL, RS256, AT_OK, MSOAUTH_ERR_NO_IDENTITY,
     "no id token"},
    {TID, "not-a-jwt", NULL, RS256, AT_OK, MSOAUTH_ERR_NO_IDENTITY,
     "cannot be read"},
    {TID, RS256, "{\"aud\":\"" CLIENT "\",\"tid\":\"" TID "\"}", RS256, AT_OK,
     MSOAUTH_ERR_NO_IDENTITY, "names nobody"},
    {TID, "{\"alg\":\"none\"}", ID_OK, RS256, AT_OK, MSOAUTH_ERR_NO_IDENTITY,
     "none, not RS256"},
    {TID, "{\"alg\":\"HS256\"}", ID_OK, RS256, AT_OK, MSOAUTH_ERR_NO_IDENTITY,
     "HS256"},
    {TID, RS256,
     "{\"aud\":\"22222222-2222-2222-2222-222222222222\",\"tid\":\"" TID
     "\",\"upn\":\"alice@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_NO_IDENTITY, "not for this app"},
    {TID, RS256, "{\"tid\":\"" TID "\",\"upn\":\"alice@contoso.com\"}", RS256,
     AT_OK, MSOAUTH_ERR_NO_IDENTITY, "not for this app"},
    /* another tenant, in the id token or the access token */
    {TID, RS256,
     "{\"aud\":\"" CLIENT "\",\"tid\":\"" OTHER_TID
     "\",\"upn\":\"alice@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_TENANT, "issued by tenant " OTHER_TID},
    {TID, RS256, "{\"aud\":\"" CLIENT "\",\"upn\":\"alice@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_TENANT, "names no tenant"},
    {TID, RS256, ID_OK, RS256, "{\"tid\":\"" OTHER_TID "\"}",
     MSOAUTH_ERR_TENANT, "access token was issued by tenant " OTHER_TID},
    {TID, RS256,
     "{\"aud\":\"" CLIENT "\",\"tid\":\"x\\u001b[2J\","
     "\"upn\":\"a@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_TENANT, "(a name with control characters)"},
    {TID, RS256,
     "{\"aud\":\"" CLIENT "\",\"tid\":\"x\\u009b2J\","
     "\"upn\":\"a@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_TENANT, "(a name with control characters)"},
    /* a domain or organizations as tenant: the tid is not compared */
    {"contoso.com", RS256,
     "{\"aud\":\"" CLIENT "\",\"tid\":\"" OTHER_TID
     "\",\"upn\":\"alice@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_OK, "alice@contoso.com"},
    /* rule 3 still applies: someone else signed in */
    {TID, RS256,
     "{\"aud\":\"" CLIENT "\",\"tid\":\"" TID "\",\"upn\":\"bob@contoso.com\"}",
     RS256, AT_OK, MSOAUTH_ERR_ALIAS, "bob@contoso.com"},
};

static void test_from_tokens(void **state) {
  static char client[] = CLIENT;

  (void)state;
  for (size_t i = 0; i < sizeof(tokens_cases) / sizeof(tokens_cases[0]);
       i++) {
    const struct tokens_case *c = &tokens_cases[i];
    struct msoauth_identity_settings cfg = cfgs[REJECT];
    struct msoauth_secret *id = jwt(c->id_header, c->id_payload);
    struct msoauth_secret *at = jwt(c->at_header, c->at_payload);
    struct msoauth_claims claims;
    struct msoauth_err err;
    char tenant[64];
    char *identity = unset;
    msoauth_rc rc;

    snprintf(tenant, sizeof(tenant), "%s", c->tenant);
    cfg.tenant = tenant;
    cfg.client_id = client;
    msoauth_err_clear(&err);
    rc = msoauth_identity_from_tokens(&cfg, "alice@contoso.com", id, at,
                                      &claims, &identity, &err);
    if (rc != c->rc || (rc && strstr(err.detail, c->want) == NULL))
      fail_msg("case %zu: %d, want %d: %s", i, rc, c->rc, err.detail);
    if (rc) {
      assert_null(identity);
      assert_null(claims.alg);
    } else {
      assert_string_equal(identity, c->want);
      assert_string_equal(claims.alg, "RS256");
      free(identity);
    }
    msoauth_claims_clear(&claims);
    msoauth_secret_free(&id);
    msoauth_secret_free(&at);
  }
}

/* The terminal text of the platform: escape sequences cannot survive. */
static void test_text_shown(void **state) {
  char out[128];

  (void)state;
  msoauth_text_shown("\x1b]0;owned\a\x1b[2JEnter ABCD\r\xc2\x9b" "31m\x7f ok",
                     out, sizeof(out));
  assert_string_equal(out, "?]0;owned??[2JEnter ABCD??31m? ok");
  msoauth_text_shown("caf\xc3\xa9 \xe2\x80\x94 \xff", out, sizeof(out));
  assert_string_equal(out, "caf\xc3\xa9 \xe2\x80\x94 ?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalize_table),
      cmocka_unit_test(test_from_tokens),
      cmocka_unit_test(test_text_shown),
      cmocka_unit_test(test_normalize_lengths),
      cmocka_unit_test(test_normalize_edges),
      cmocka_unit_test(test_alias_detail_long),
      cmocka_unit_test(test_alias_primary_checked),
      cmocka_unit_test(test_service_domain),
      cmocka_unit_test(test_service_after_normalize),
      cmocka_unit_test(test_match_token),
      cmocka_unit_test(test_match_token_long),
      cmocka_unit_test(test_domain),
      cmocka_unit_test(test_shown),
  };

  return cmocka_run_group_tests(tests, setup, NULL);
}

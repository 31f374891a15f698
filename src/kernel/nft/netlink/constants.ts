// nf_tables netlink numbers (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h).

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFNETLINK_V0 = 0;

export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;

export const MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
  NEWSET: 9,
  GETSET: 10,
  DELSET: 11,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
  NEWGEN: 15,
  GETGEN: 16,
} as const;

export const TABLE = { NAME: 1, FLAGS: 2, USE: 3, HANDLE: 4, USERDATA: 6 } as const;
export const CHAIN = {
  TABLE: 1,
  HANDLE: 2,
  NAME: 3,
  HOOK: 4,
  POLICY: 5,
  USE: 6,
  TYPE: 7,
  FLAGS: 10,
  USERDATA: 12,
} as const;
export const HOOK = { HOOKNUM: 1, PRIORITY: 2 } as const;
export const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, USERDATA: 7 } as const;
export const SET = {
  TABLE: 1,
  NAME: 2,
  FLAGS: 3,
  KEY_TYPE: 4,
  KEY_LEN: 5,
  DATA_TYPE: 6,
  DATA_LEN: 7,
  POLICY: 8,
  DESC: 9,
  ID: 10,
  TIMEOUT: 11,
  GC_INTERVAL: 12,
  USERDATA: 13,
  HANDLE: 16,
} as const;
export const SET_DESC = { SIZE: 1, CONCAT: 2 } as const;
export const SET_FLAG = {
  ANONYMOUS: 0x1,
  CONSTANT: 0x2,
  INTERVAL: 0x4,
  MAP: 0x8,
  TIMEOUT: 0x10,
  EVAL: 0x20,
  OBJECT: 0x40,
  CONCAT: 0x80,
} as const;
export const SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
export const SET_ELEM = {
  KEY: 1,
  DATA: 2,
  FLAGS: 3,
  TIMEOUT: 4,
  EXPIRATION: 5,
  USERDATA: 6,
  KEY_END: 10,
} as const;
export const SET_ELEM_INTERVAL_END = 0x1;
export const LIST_ELEM = 1;
export const DATA = { VALUE: 1, VERDICT: 2 } as const;
export const VERDICT = { CODE: 1, CHAIN: 2 } as const;
export const EXPR = { NAME: 1, DATA: 2 } as const;

/** Verdict codes: netfilter's NF_DROP/NF_ACCEPT and nf_tables' own (negative). */
export const VERDICT_CODE = {
  drop: 0,
  accept: 1,
  continue: -1,
  break: -2,
  jump: -3,
  goto: -4,
  return: -5,
} as const;

/** The data type of a map's verdict values (NFT_DATA_VERDICT). */
export const NFT_DATA_VERDICT = 0xffffff00;

export const NF_INET_HOOKS: Record<string, number> = {
  prerouting: 0,
  input: 1,
  forward: 2,
  output: 3,
  postrouting: 4,
};

/** libnftnl's user-data TLV types. */
export const UDATA_TABLE_COMMENT = 0;
export const UDATA_CHAIN_COMMENT = 0;
export const UDATA_RULE_COMMENT = 0;
export const UDATA_SET_ELEM_COMMENT = 0;
export const UDATA_SET = {
  KEYBYTEORDER: 0,
  DATABYTEORDER: 1,
  MERGE_ELEMENTS: 2,
  KEY_TYPEOF: 3,
  DATA_TYPEOF: 4,
  EXPR: 5,
  DATA_INTERVAL: 6,
  COMMENT: 7,
} as const;

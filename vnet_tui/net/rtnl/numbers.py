"""The rtnetlink numbers vnet-tui speaks, as the kernel's headers name them.

linux/netlink.h (message types, flags), linux/rtnetlink.h (RTM_*, RTA_*,
groups), linux/if_link.h (IFLA_*), linux/if_addr.h (IFA_*),
linux/net_namespace.h (NETNSA_*), linux/veth.h, linux/if.h (IFF_*).
Only numbers: the layouts are in ``message``, ``attr`` and the message
modules, the encoders and decoders beside them.
"""

# message types (linux/netlink.h, linux/rtnetlink.h)
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWNSID, RTM_GETNSID = 88, 90
RTM_NEWSTATS, RTM_GETSTATS = 92, 94

# nlmsghdr flags
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_DUMP_INTR = 0x10
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLM_F_DUMP = 0x300

# socket options (SOL_NETLINK)
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12

# multicast groups, in the bitmask form bind() takes
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100

# link attributes (ifinfomsg)
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_NET_NS_PID = 10, 16, 18, 19
IFLA_IFALIAS, IFLA_STATS64, IFLA_NET_NS_FD, IFLA_EXT_MASK = 20, 23, 28, 29
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES = 31, 32
IFLA_LINK_NETNSID = 37
IFLA_AF_SPEC = 26
# IFLA_AF_SPEC's per-family attributes: IPv4's devconf array (IPV4_DEVCONF_* - 1 indexes it), IPv6's
# (DEVCONF_* indexes it) and its address generation mode
IFLA_INET_CONF = 1
IFLA_INET6_CONF, IFLA_INET6_ADDR_GEN_MODE = 2, 8
IPV4_DEVCONF_PROXY_ARP = 3
DEVCONF_PROXY_NDP, DEVCONF_DISABLE_IPV6 = 22, 26
RTEXT_FILTER_SKIP_STATS = 1 << 3
# IFLA_LINKINFO's nested attributes
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND = 1, 2, 4
VETH_INFO_PEER = 1
IFLA_BR_MCAST_QUERIER, IFLA_BR_MCAST_HASH_MAX, IFLA_BR_MCAST_STARTUP_QUERY_CNT = 25, 27, 29
IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, IFLA_BR_MCAST_STARTUP_QUERY_INTVL = 34, 35
# RTM_GETSTATS
IFLA_STATS_LINK_64 = 1
# arphrd (ifinfomsg.ifi_type)
ARPHRD_LOOPBACK = 772

# address attributes (ifaddrmsg) and flags
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NODAD, IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x02, 0x08, 0x40

# route attributes (rtmsg)
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 9, 15

# RTM_GETNSID
NETNSA_NSID, NETNSA_FD = 1, 3

# interface flags (linux/if.h)
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

# IFLA_OPERSTATE's values, in the kernel's order (RFC 2863)
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

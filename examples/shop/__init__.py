"""Shop: a small, deliberately vulnerable orders API, the harness's third example target (see README.md here).

Each class of the OWASP API Security Top 10 that the security suite checks is a fault (SHOP_FAULTS), and each
trap that made earlier scanners raise false findings is a behaviour of the clean build: it validates an
order's body before the token, answers 404 for an unknown order before it checks the token, serves its
product list with or without a token, and its test users have short passwords.
"""

VERSION = "1.0.0"

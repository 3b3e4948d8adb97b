"""pyca_verify.py ROOT INTERMEDIATE LEAF - a third, independent verifier for
the peer tests: pyca/cryptography's X.509 path validation (the
cryptography.x509.verification API, cryptography >= 42). Prints "OK" or
"REFUSED: <reason>" and exits 0 or 1; exits 77 when the API is missing
(Debian bookworm's python3-cryptography is 38.x, without it).
"""
import sys

try:
    from cryptography import x509
    from cryptography.x509 import verification
except ImportError as error:  # no path validation in this cryptography
    print(f"SKIPPED: {error}")
    sys.exit(77)


def load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def main():
    root, intermediate, leaf = (load(path) for path in sys.argv[1:4])
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root]))
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, [intermediate])
    except verification.VerificationError as error:
        print(f"REFUSED: {error}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

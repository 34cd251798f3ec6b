"""The command line: version and --help on each subcommand."""

import unittest

import harness as h


class CliTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries(h.LINTEL)

    def lintel(self, *argv):
        return h.run([h.LINTEL, *argv], timeout=20)

    def test_version(self):
        r = self.lintel("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d+\.\d+")
        self.assertIn("lintel", r.stdout.lower())

    def test_help(self):
        for argv, must_mention in (
                (["--help"], ["serve", "check", "version"]),
                (["serve", "--help"], ["--manifests", "--http", "--https", "--admin",
                                       "--workers", "--ingress-class", "--log-level"]),
                (["check", "--help"], ["--manifests"]),
                (["version", "--help"], []),
        ):
            with self.subTest(argv=argv):
                r = self.lintel(*argv)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertTrue(r.stdout.strip(), "help goes to stdout")
                for word in must_mention:
                    self.assertIn(word, r.stdout)


if __name__ == "__main__":
    unittest.main()

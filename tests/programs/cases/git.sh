# git init/add/commit/log/branch/merge/diff in /tmp. Identity and dates are
# fixed and no global or system configuration is read, so every object hash
# is reproducible.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

export HOME=$T GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_DATE='2001-02-03T04:05:06+0000' GIT_COMMITTER_DATE='2001-02-03T04:05:06+0000'

git init -q -b main repo
cd repo
git config user.name 'Moat Tester'
git config user.email 'tester@example.invalid'
git config core.fileMode true

printf 'hello\nworld\n' >README
mkdir -p src
for i in 1 2 3; do echo "int f$i(void) { return $i; }" >src/f$i.c; done
git add README src
git commit -q -m 'Initial commit'
git tag v1

echo 'third line' >>README
git mv src/f3.c src/g3.c
git commit -q -am 'Extend README, rename f3'

git checkout -q -b feature
echo 'feature work' >feature.txt
git add feature.txt
GIT_AUTHOR_DATE='2001-02-04T00:00:00+0000' GIT_COMMITTER_DATE='2001-02-04T00:00:00+0000' \
  git commit -q -m 'Add feature'
git checkout -q main
echo 'int f4(void) { return 4; }' >src/f4.c
git add src/f4.c
git commit -q -m 'Add f4'
git merge -q --no-edit feature
git log --graph --format='%H %an <%ae> %ad %s' --date=iso-strict
echo "HEAD tree: $(git rev-parse 'HEAD^{tree}')"
git cat-file -p HEAD
git show --stat --format='%h %s' v1
git diff --stat v1 HEAD
git diff v1 HEAD -- README
git ls-files -s
echo 'dirty' >>README
echo 'untracked' >new.txt
git status --short
git stash -q
git status --short
git stash pop -q
git diff --numstat
git log --oneline --all | wc -l
git fsck --no-progress && echo "fsck ok"
git count-objects | sed 's/, [0-9]* kilobytes//'
git gc -q
git count-objects -v | grep -E '^(count|in-pack|packs):'
git clone -q . ../clone
git -C ../clone log -1 --format='clone HEAD %H'
git archive --format=tar HEAD | tar -tf - | sort
